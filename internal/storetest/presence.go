package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/presence"
	"github.com/matryer/is"
)

// Presence runs the contract of presence.Store against stores made by newStore, one per subtest.
// Each store must start empty.
func Presence(t *testing.T, newStore func(t *testing.T) presence.Store) {
	// Millisecond times: the contract keeps at least that precision.
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	ctx := context.Background()

	status := func(t *testing.T, s presence.Store, userID string) presence.Entry {
		t.Helper()
		es, err := s.Get(ctx, []string{userID})
		if err != nil || len(es) != 1 {
			t.Fatalf("Get(%s) = %v, %v", userID, es, err)
		}
		return es[0]
	}

	t.Run("never seen is offline without lastSeen", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		es, err := s.Get(ctx, []string{"ghost"})
		is.NoErr(err)                                  // Get of an unknown user works
		is.Equal(len(es), 1)                           // one entry per id
		is.Equal(es[0].UserID, "ghost")                // the id asked
		is.Equal(es[0].Status, presence.StatusOffline) // never seen is offline
		is.True(es[0].LastSeen.IsZero())               // and has no lastSeen
		es, err = s.Get(ctx, nil)
		is.NoErr(err)        // Get of no ids works
		is.Equal(len(es), 0) // and returns nothing
	})

	t.Run("first and last session", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		first, err := s.AddSession(ctx, "u1", "s1", "n1")
		is.NoErr(err)
		is.True(first)                                             // the first session brings the user online
		is.Equal(status(t, s, "u1").Status, presence.StatusOnline) // online with one session
		is.True(status(t, s, "u1").LastSeen.IsZero())              // online entries carry no lastSeen

		first, err = s.AddSession(ctx, "u1", "s2", "n2")
		is.NoErr(err)
		is.True(!first) // a second session, even on another node, is not first

		first, err = s.AddSession(ctx, "u1", "s2", "n2")
		is.NoErr(err)
		is.True(!first) // adding a session again is idempotent

		last, err := s.RemoveSession(ctx, "u1", "s1", t0)
		is.NoErr(err)
		is.True(!last)                                             // another session remains
		is.Equal(status(t, s, "u1").Status, presence.StatusOnline) // still online

		last, err = s.RemoveSession(ctx, "u1", "s1", t0)
		is.NoErr(err)
		is.True(!last) // removing a removed session is a no-op

		last, err = s.RemoveSession(ctx, "u1", "s2", t0)
		is.NoErr(err)
		is.True(last) // the last session takes the user offline
		e := status(t, s, "u1")
		is.Equal(e.Status, presence.StatusOffline) // offline after the last session
		is.True(e.LastSeen.Equal(t0))              // last seen when the last session ended

		last, err = s.RemoveSession(ctx, "nobody", "sx", t0)
		is.NoErr(err)  // removing an unknown session is not an error
		is.True(!last) // and changes nothing

		first, err = s.AddSession(ctx, "u1", "s3", "n1")
		is.NoErr(err)
		is.True(first)                                // back online after being offline
		is.True(status(t, s, "u1").LastSeen.IsZero()) // online again: no lastSeen
	})

	t.Run("node sessions counted", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		sc, ok := s.(presence.SessionCounter)
		if !ok {
			t.Skip("the store does not implement presence.SessionCounter")
		}
		n, err := sc.NodeSessions(ctx, "n1")
		is.NoErr(err)
		is.Equal(n, 0) // an unknown node holds none
		for _, x := range []struct{ user, session, node string }{{"u1", "s1", "n1"}, {"u1", "s2", "n1"}, {"u2", "s3", "n1"}, {"u3", "s4", "n2"}} {
			_, err := s.AddSession(ctx, x.user, x.session, x.node)
			is.NoErr(err)
		}
		n, err = sc.NodeSessions(ctx, "n1")
		is.NoErr(err)
		is.Equal(n, 3)                               // every session of the node, whichever user
		_, err = s.AddSession(ctx, "u2", "s3", "n2") // moved to n2
		is.NoErr(err)
		_, err = s.RemoveSession(ctx, "u1", "s1", t0)
		is.NoErr(err)
		n, err = sc.NodeSessions(ctx, "n1")
		is.NoErr(err)
		is.Equal(n, 1) // moves and removals count
		_, err = s.RemoveNode(ctx, "n2", t0)
		is.NoErr(err)
		n, err = sc.NodeSessions(ctx, "n2")
		is.NoErr(err)
		is.Equal(n, 0) // and so does a removed node
	})

	t.Run("get keeps order", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		_, err := s.AddSession(ctx, "b", "sb", "n1")
		is.NoErr(err)
		_, err = s.AddSession(ctx, "c", "sc", "n1")
		is.NoErr(err)
		_, err = s.RemoveSession(ctx, "c", "sc", t0)
		is.NoErr(err)
		es, err := s.Get(ctx, []string{"c", "a", "b", "c"})
		is.NoErr(err)
		is.Equal(len(es), 4) // one entry per id asked, duplicates included
		got := fmt.Sprint(es[0].UserID, es[0].Status, " ", es[1].UserID, es[1].Status, " ", es[2].UserID, es[2].Status, " ", es[3].UserID, es[3].Status)
		is.Equal(got, "coffline aoffline bonline coffline") // in the order asked
	})

	t.Run("chosen status", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		changed, err := s.SetStatus(ctx, "u1", presence.StatusAway)
		is.NoErr(err)                                               // setting the status of an offline user is no error
		is.True(!changed)                                           // but changes nothing
		is.Equal(status(t, s, "u1").Status, presence.StatusOffline) // the user stays offline

		_, err = s.AddSession(ctx, "u1", "s1", "n1")
		is.NoErr(err)
		changed, err = s.SetStatus(ctx, "u1", presence.StatusAway)
		is.NoErr(err)
		is.True(changed)                                         // online → away is a change
		is.Equal(status(t, s, "u1").Status, presence.StatusAway) // away now
		changed, err = s.SetStatus(ctx, "u1", presence.StatusAway)
		is.NoErr(err)
		is.True(!changed) // away → away is none

		first, err := s.AddSession(ctx, "u1", "s2", "n2")
		is.NoErr(err)
		is.True(!first)                                          // a second tab
		is.Equal(status(t, s, "u1").Status, presence.StatusAway) // keeps the chosen status

		_, err = s.SetStatus(ctx, "u1", presence.StatusOffline)
		is.True(errors.Is(err, presence.ErrInvalidStatus)) // offline cannot be chosen
		_, err = s.SetStatus(ctx, "u1", "busy")
		is.True(errors.Is(err, presence.ErrInvalidStatus))       // nor can an unknown status
		is.Equal(status(t, s, "u1").Status, presence.StatusAway) // an invalid status changes nothing

		changed, err = s.SetStatus(ctx, "u1", presence.StatusOnline)
		is.NoErr(err)
		is.True(changed) // away → online is a change
		changed, err = s.SetStatus(ctx, "u1", presence.StatusAway)
		is.NoErr(err)
		is.True(changed) // and back

		_, err = s.RemoveSession(ctx, "u1", "s1", t0)
		is.NoErr(err)
		_, err = s.RemoveSession(ctx, "u1", "s2", t0)
		is.NoErr(err)
		is.Equal(status(t, s, "u1").Status, presence.StatusOffline) // offline when the sessions end
		first, err = s.AddSession(ctx, "u1", "s3", "n1")
		is.NoErr(err)
		is.True(first)                                             // a new first session
		is.Equal(status(t, s, "u1").Status, presence.StatusOnline) // starts online: the choice ended with the sessions
	})

	t.Run("dead node expires", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		_, err := s.Heartbeat(ctx, "dead", t0.Add(20*time.Second))
		is.NoErr(err)
		reaped, err := s.Heartbeat(ctx, "alive", t0.Add(20*time.Second))
		is.NoErr(err)
		is.True(!reaped) // a new node was not reaped
		for _, x := range []struct{ user, session, node string }{
			{"only-dead", "s1", "dead"},
			{"only-dead", "s2", "dead"},
			{"both", "s3", "dead"},
			{"both", "s4", "alive"},
			{"only-alive", "s5", "alive"},
			{"lonely", "s6", "never-beats"},
		} {
			_, err := s.AddSession(ctx, x.user, x.session, x.node)
			is.NoErr(err) // sessions on three nodes
		}

		gone, err := s.Expire(ctx, t0.Add(10*time.Second))
		is.NoErr(err)
		is.Equal(len(gone), 0) // no deadline has passed

		reaped, err = s.Heartbeat(ctx, "alive", t0.Add(40*time.Second))
		is.NoErr(err)
		is.True(!reaped) // renewing in time is no reap

		at := t0.Add(20 * time.Second)
		gone, err = s.Expire(ctx, at)
		is.NoErr(err)
		is.Equal(len(gone), 1)                                             // only the user whose sessions were all on the dead node
		is.Equal(gone[0].UserID, "only-dead")                              // went offline
		is.Equal(gone[0].Status, presence.StatusOffline)                   // reported offline
		is.True(gone[0].LastSeen.Equal(at))                                // last seen when expired
		is.Equal(status(t, s, "only-dead").Status, presence.StatusOffline) // and stored so
		is.True(status(t, s, "only-dead").LastSeen.Equal(at))              // with lastSeen
		is.Equal(status(t, s, "both").Status, presence.StatusOnline)       // a session elsewhere keeps a user online
		is.Equal(status(t, s, "only-alive").Status, presence.StatusOnline) // the live node is untouched
		is.Equal(status(t, s, "lonely").Status, presence.StatusOnline)     // a node that never beat does not expire

		gone, err = s.Expire(ctx, t0.Add(30*time.Second))
		is.NoErr(err)
		is.Equal(len(gone), 0) // an expiry is reported once

		last, err := s.RemoveSession(ctx, "both", "s3", t0)
		is.NoErr(err)
		is.True(!last) // a reaped session is gone already

		reaped, err = s.Heartbeat(ctx, "dead", t0.Add(50*time.Second))
		is.NoErr(err)
		is.True(reaped) // a reaped node learns it at its next heartbeat
		reaped, err = s.Heartbeat(ctx, "dead", t0.Add(50*time.Second))
		is.NoErr(err)
		is.True(!reaped) // once

		first, err := s.AddSession(ctx, "only-dead", "s1", "dead")
		is.NoErr(err)
		is.True(first) // re-adding its sessions brings the user back
		gone, err = s.Expire(ctx, t0.Add(35*time.Second))
		is.NoErr(err)
		is.Equal(len(gone), 0) // the renewed node lives on
	})

	t.Run("several expirers", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		_, err := s.Heartbeat(ctx, "dead", t0)
		is.NoErr(err)
		for i := range 20 {
			_, err := s.AddSession(ctx, fmt.Sprint("u", i), fmt.Sprint("s", i), "dead")
			is.NoErr(err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				gone, err := s.Expire(ctx, t0.Add(time.Second))
				if err != nil {
					t.Errorf("Expire: %v", err)
				}
				mu.Lock()
				for _, e := range gone {
					seen[e.UserID]++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		is.Equal(len(seen), 20) // every user of the dead node is reported
		for _, n := range seen {
			is.Equal(n, 1) // each to one caller only
		}
	})

	t.Run("remove node", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		_, err := s.AddSession(ctx, "u1", "s1", "n1")
		is.NoErr(err)
		_, err = s.AddSession(ctx, "u2", "s2", "n1")
		is.NoErr(err)
		_, err = s.AddSession(ctx, "u2", "s3", "n2")
		is.NoErr(err)
		gone, err := s.RemoveNode(ctx, "n1", t0)
		is.NoErr(err)
		is.Equal(len(gone), 1)                                     // only u1 had all its sessions there
		is.Equal(gone[0].UserID, "u1")                             // u1 went offline
		is.True(gone[0].LastSeen.Equal(t0))                        // seen last at the given time
		is.Equal(status(t, s, "u2").Status, presence.StatusOnline) // u2 keeps its other session
		gone, err = s.RemoveNode(ctx, "n1", t0)
		is.NoErr(err)
		is.Equal(len(gone), 0) // removing it again finds nothing
		gone, err = s.RemoveNode(ctx, "unknown", t0)
		is.NoErr(err)
		is.Equal(len(gone), 0) // an unknown node is no error
	})

	t.Run("concurrent first and last", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		const n = 16
		var firsts, lasts sync.Map
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				first, err := s.AddSession(ctx, "u", fmt.Sprint("s", i), fmt.Sprint("n", i%3))
				if err != nil {
					t.Errorf("AddSession: %v", err)
				}
				firsts.Store(i, first)
			})
		}
		wg.Wait()
		for i := range n {
			wg.Go(func() {
				last, err := s.RemoveSession(ctx, "u", fmt.Sprint("s", i), t0)
				if err != nil {
					t.Errorf("RemoveSession: %v", err)
				}
				lasts.Store(i, last)
			})
		}
		wg.Wait()
		count := func(m *sync.Map) int {
			c := 0
			m.Range(func(_, v any) bool {
				if v.(bool) {
					c++
				}
				return true
			})
			return c
		}
		is.Equal(count(&firsts), 1)                                // exactly one session is first
		is.Equal(count(&lasts), 1)                                 // exactly one session is last
		is.Equal(status(t, s, "u").Status, presence.StatusOffline) // offline at the end
	})
}
