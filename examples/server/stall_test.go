package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// stallMsg is the part of a `message` event the stall test looks at.
type stallMsg struct {
	ID          string `json:"id"`
	ClientMsgID string `json:"clientMsgId"`
	Content     string `json:"content"`
}

// stallOutcomes reads alice's frames until every clientMsgId in want has an outcome: her copy
// of the message (the acknowledgement) or an `error` whose ref is the clientMsgId, whichever
// comes first. It returns the acknowledged ids (clientMsgId → message id; a copy that comes
// after an error counts too: a publish that timed out may still have reached Redis) and the
// clientMsgIds whose first outcome was each error code, and fails the test if the outcomes do
// not all come within d or the connection ends.
func stallOutcomes(t *testing.T, c *signalingtest.Client, want map[string]bool, d time.Duration) (acked map[string]string, failed map[string][]string) {
	t.Helper()
	acked, failed = map[string]string{}, map[string][]string{}
	done := map[string]bool{}
	deadline := time.Now().Add(d)
	for len(done) < len(want) {
		f := c.Next(time.Until(deadline))
		switch f.Event {
		case "message":
			var m stallMsg
			if err := f.Bind(&m); err != nil {
				t.Fatalf("message: %v", err)
			}
			if !want[m.ClientMsgID] {
				continue // a warm-up message, or a second copy of an outcome already counted
			}
			if _, ok := acked[m.ClientMsgID]; !ok {
				acked[m.ClientMsgID] = m.ID
			}
			done[m.ClientMsgID] = true
		case "error":
			var e signaling.Error
			if err := f.Bind(&e); err != nil {
				t.Fatalf("error: %v", err)
			}
			if e.Code == signaling.CodeRateLimited {
				t.Fatalf("a sender within its rate got rate_limited: %s", f.Raw)
			}
			if !want[f.Ref] {
				t.Fatalf("an error for no message of the test: %s", f.Raw)
			}
			if !done[f.Ref] {
				failed[e.Code] = append(failed[e.Code], f.Ref)
				done[f.Ref] = true
			}
		}
	}
	return acked, failed
}

// TestMultiNodeRedisStall: the redis-server under two nodes freezes (SIGSTOP) for longer than
// the services' 5 s call deadline while alice, on node a, sends to bob, on node b, at 10
// messages/s, well within her rate (50/s, burst 100), then runs again (SIGCONT). Frames are
// charged to the rate limit when they arrive, not when the stalled handlers get to them, so
// alice is never rate_limited; the stalled calls end at their deadline with `unavailable`;
// alice's connection stays open; and once Redis runs again every message alice sent (those
// answered `unavailable` resent with the same clientMsgId) reaches bob exactly once.
func TestMultiNodeRedisStall(t *testing.T) {
	is := is.New(t)
	if testing.Short() {
		t.Skip("freezes Redis for 7 s")
	}
	const (
		total   = 60                     // messages alice sends, one per tick
		every   = 100 * time.Millisecond // 10/s
		freezeN = 10                     // Redis freezes after this many (about 1 s in)
		stall   = 7 * time.Second        // longer than chat's CallTimeout (5 s) and go-redis's read timeout (3 s)
	)
	srv := redistest.Start(t)
	a := startNodeOn(t, srv, "a")
	b := startNodeOn(t, srv, "b")
	aliceC, _ := dialUser(t, a, aliceUser)
	bobC, _ := dialUser(t, b, bobUser)
	joinRoom(t, "r", aliceC, bobC)
	relayUntilSeen(t, aliceC, bobC, "r", "warm-a", 10*time.Second) // b's subscription to r is live
	relayUntilSeen(t, bobC, aliceC, "r", "warm-b", 10*time.Second) // and a's

	cid := func(i int) string { return fmt.Sprintf("stall-%d", i) }
	want := map[string]bool{}
	for i := range total {
		want[cid(i)] = true
	}
	send := func(id string) {
		aliceC.SendRef("message", map[string]string{"roomId": "r", "content": "content of " + id, "clientMsgId": id}, id)
	}

	offset := time.Duration(rand.Int64N(int64(1500 * time.Microsecond)))
	t.Logf("freezing %v after message %d is sent", offset, freezeN-1)

	// The load: a ticker paces alice at 10/s; the freeze and the thaw are part of it.
	tick := time.NewTicker(every)
	defer tick.Stop()
	var thaw <-chan time.Time
	frozen := false
	for i := 0; i < total || frozen; {
		select {
		case <-tick.C:
			if i == total {
				continue
			}
			send(cid(i))
			i++
			if i == freezeN {
				t.Cleanup(srv.Resume) // before the nodes stop, even if the test fails
				// Where in the handling of the last message the freeze lands (its membership
				// check, the store's two calls or the publish, each a different way for a
				// stalled call to end) depends on a fraction of a millisecond; a random
				// delay varies it from run to run. Part of the load, not a synchronisation.
				time.Sleep(offset)
				srv.Pause()
				frozen = true
				thaw = time.After(stall)
				t.Logf("redis-server frozen after %d messages", i)
			}
		case <-thaw:
			srv.Resume()
			frozen, thaw = false, nil
			t.Log("redis-server running again")
		}
	}

	acked, failed := stallOutcomes(t, aliceC, want, 30*time.Second)
	t.Logf("acknowledged %d of %d; errors by code: %v", len(acked), total, failed)
	is.True(len(failed[signaling.CodeUnavailable]) > 0) // the stalled call ended at its deadline, answered unavailable
	for code := range failed {
		is.Equal(code, signaling.CodeUnavailable) // and no other error
	}

	// The client's part: resend what was unavailable, with the same clientMsgId, until each is
	// acknowledged (go-redis may need a moment to replace the connections that timed out).
	retry := failed[signaling.CodeUnavailable]
	deadline := time.Now().Add(20 * time.Second)
	for round := 1; len(retry) > 0; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("still unavailable after %d rounds of retries: %v", round-1, retry)
		}
		again := map[string]bool{}
		for _, id := range retry {
			again[id] = true
			send(id)
		}
		got, errs := stallOutcomes(t, aliceC, again, 15*time.Second)
		for id, mid := range got {
			acked[id] = mid
		}
		retry = nil
		for code, ids := range errs {
			is.Equal(code, signaling.CodeUnavailable) // a retry fails only as unavailable
			retry = append(retry, ids...)
		}
		t.Logf("retry round %d: %d acknowledged, %d unavailable again", round, len(got), len(retry))
	}
	is.Equal(len(acked), total) // every message is acknowledged in the end

	// Bob gets each of them once: a fence sent after every acknowledgement (same sender, room
	// and path) is the barrier after which a missing or second copy is not coming.
	aliceC.Send("message", map[string]string{"roomId": "r", "content": "fence"})
	seen := map[string][]string{} // clientMsgId → the message ids bob received
	deadline = time.Now().Add(20 * time.Second)
	for {
		var m stallMsg
		is.NoErr(bobC.Expect("message", time.Until(deadline)).Bind(&m)) // up to the fence
		if m.Content == "fence" {
			break
		}
		if want[m.ClientMsgID] {
			seen[m.ClientMsgID] = append(seen[m.ClientMsgID], m.ID)
		}
	}
	for id, mid := range acked {
		if !slices.Equal(seen[id], []string{mid}) {
			t.Errorf("%s: acknowledged as %s, bob got %v", id, mid, seen[id])
		}
	}
	is.Equal(len(seen), total) // bob got every message, and nothing else of the test
	errs := bobC.Frames("error")
	is.Equal(len(errs), 0) // and no error

	aliceC.SendRef("ping", struct{}{}, "still")
	is.Equal(aliceC.Expect("pong", wait).Ref, "still") // alice's connection stayed open
	closeClients(t, a, aliceC)
	closeClients(t, b, bobC)
}
