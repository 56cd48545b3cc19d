package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

// Meeting checks a meeting.Store against its contract. newStore returns an empty store; it is
// called once per subtest.
func Meeting(t *testing.T, newStore func(t *testing.T) meeting.Store) {
	ctx := context.Background()

	t.Run("GetMissing", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		_, err := st.Get(ctx, "nowhere")
		is.True(errors.Is(err, meeting.ErrNotFound)) // no record: ErrNotFound
	})

	t.Run("CreateKeepsEveryField", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		m := sampleMeeting("r1")
		is.NoErr(st.Create(ctx, m)) // create
		got, err := st.Get(ctx, "r1")
		is.NoErr(err)    // get
		is.Equal(got, m) // every field, server-side state included, comes back
	})

	t.Run("CreateNeverOverwritesActive", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // the first meeting
		other := sampleMeeting("r1")
		other.Host = signaling.User{ID: "mallory", Username: "Mallory"}
		err := st.Create(ctx, other)
		is.True(errors.Is(err, meeting.ErrConflict)) // a second active meeting is a conflict
		got, err := st.Get(ctx, "r1")
		is.NoErr(err)                  // still there
		is.Equal(got.Host.ID, "alice") // the running meeting is unchanged
	})

	t.Run("CreateReplacesInactive", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // create
		is.NoErr(st.Update(ctx, "r1", func(m *meeting.Meeting) error {
			m.Status = meeting.StatusInactive
			return nil
		})) // the meeting is ending
		next := sampleMeeting("r1")
		next.CreatedAt++
		is.NoErr(st.Create(ctx, next)) // an inactive record does not block a new meeting
		got, err := st.Get(ctx, "r1")
		is.NoErr(err)                              // get
		is.Equal(got.CreatedAt, next.CreatedAt)    // the new meeting
		is.Equal(got.Status, meeting.StatusActive) // active
	})

	t.Run("UpdateMissing", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		called := false
		err := st.Update(ctx, "nowhere", func(*meeting.Meeting) error { called = true; return nil })
		is.True(errors.Is(err, meeting.ErrNotFound)) // no record: ErrNotFound
		is.True(!called)                             // f is not called without a record
	})

	t.Run("UpdateStoresChanges", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // create
		err := st.Update(ctx, "r1", func(m *meeting.Meeting) error {
			m.Participants = append(m.Participants, meeting.Participant{
				User:     signaling.User{ID: "carol", Username: "Carol"},
				JoinedAt: 1700000000500,
				Sessions: []string{"s-carol"},
			})
			m.Participant("alice").Audio = false
			m.EmptySince = 0
			return nil
		})
		is.NoErr(err) // update
		got, err := st.Get(ctx, "r1")
		is.NoErr(err)                                               // get
		is.Equal(len(got.Participants), 3)                          // carol was added
		is.Equal(got.Participants[2].Sessions, []string{"s-carol"}) // with her session
		is.True(!got.Participant("alice").Audio)                    // alice's change was kept
	})

	t.Run("UpdateStoresLobbyAndRemovals", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		m := sampleMeeting("r1")
		m.Locked, m.Knocks, m.Removed = false, nil, nil
		is.NoErr(st.Create(ctx, m)) // an open meeting
		dave := signaling.User{ID: "dave", Username: "Dave"}
		is.NoErr(st.Update(ctx, "r1", func(m *meeting.Meeting) error {
			m.Locked = true
			m.Knocks = append(m.Knocks, meeting.Knock{User: dave, At: 1700000000600, Sessions: []string{"s-dave"}})
			m.Removed = append(m.Removed, signaling.User{ID: "bob", Username: "Bob"})
			m.Participant("bob").Hand = true
			return nil
		})) // the host locks it, dave knocks, bob is removed with his hand up
		got, err := st.Get(ctx, "r1")
		is.NoErr(err)                                                         // get
		is.True(got.Locked)                                                   // the lock is kept
		is.Equal(len(got.Knocks), 1)                                          // the knock is kept
		is.Equal(got.Knocks[0].User, dave)                                    // whose
		is.Equal(got.Knocks[0].Sessions, []string{"s-dave"})                  // from which session
		is.Equal(got.Knocks[0].At, int64(1700000000600))                      // since when
		is.Equal(got.Removed, []signaling.User{{ID: "bob", Username: "Bob"}}) // the removal is kept
		is.True(got.Participant("bob").Hand)                                  // and the raised hand

		is.NoErr(st.Update(ctx, "r1", func(m *meeting.Meeting) error {
			m.Locked, m.Knocks, m.Removed = false, nil, nil
			return nil
		})) // unlocked, the knock answered, bob admitted back
		got, err = st.Get(ctx, "r1")
		is.NoErr(err)                                                         // get
		is.True(!got.Locked && len(got.Knocks) == 0 && len(got.Removed) == 0) // all of it undone
	})

	t.Run("UpdateErrorChangesNothing", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // create
		boom := errors.New("boom")
		err := st.Update(ctx, "r1", func(m *meeting.Meeting) error {
			m.Host = signaling.User{ID: "mallory"}
			m.Participants = nil
			return fmt.Errorf("wrapped: %w", boom)
		})
		is.True(errors.Is(err, boom)) // f's error comes back
		got, err := st.Get(ctx, "r1")
		is.NoErr(err)                      // get
		is.Equal(got, sampleMeeting("r1")) // nothing was stored
	})

	t.Run("CallersNeverShareSlices", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		m := sampleMeeting("r1")
		is.NoErr(st.Create(ctx, m)) // create
		m.Participants[0].Sessions[0] = "changed-after-create"
		m.Participants[0].User.ID = "changed-after-create"

		got, err := st.Get(ctx, "r1")
		is.NoErr(err) // get
		got.Participants[0].Sessions[0] = "changed-after-get"
		got.Participants[1].Dropped = append(got.Participants[1].Dropped, "changed-after-get")
		got.Knocks[0].Sessions[0] = "changed-after-get"
		got.Removed[0].ID = "changed-after-get"

		var kept *meeting.Meeting
		is.NoErr(st.Update(ctx, "r1", func(m *meeting.Meeting) error {
			kept = m
			return nil
		})) // an update that changes nothing
		kept.Participants[0].Sessions[0] = "changed-after-update"
		kept.Participants = kept.Participants[:1]
		kept.Knocks[0].Sessions[1] = "changed-after-update"
		kept.Removed[0].ID = "changed-after-update"

		again, err := st.Get(ctx, "r1")
		is.NoErr(err)                        // get again
		is.Equal(again, sampleMeeting("r1")) // no caller's change reached the store
	})

	t.Run("Delete", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // create
		is.NoErr(st.Delete(ctx, "r1"))                // delete
		_, err := st.Get(ctx, "r1")
		is.True(errors.Is(err, meeting.ErrNotFound))  // gone
		is.NoErr(st.Delete(ctx, "r1"))                // deleting a missing record is fine
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // the room takes a new meeting
	})

	t.Run("ActiveIn", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		for _, r := range []string{"r1", "r2", "r3"} {
			is.NoErr(st.Create(ctx, sampleMeeting(r))) // create
		}
		is.NoErr(st.Update(ctx, "r2", func(m *meeting.Meeting) error {
			m.Status = meeting.StatusInactive
			return nil
		})) // r2 is ending
		got, err := st.ActiveIn(ctx, []string{"r3", "nowhere", "r2", "r1", "r3"})
		is.NoErr(err)                         // active in
		is.Equal(len(got), 2)                 // r3 and r1, each once; not r2, not the unknown room
		is.Equal(got[0].RoomID, "r3")         // in the order asked
		is.Equal(got[1].RoomID, "r1")         // in the order asked
		is.Equal(got[1], sampleMeeting("r1")) // whole records
		none, err := st.ActiveIn(ctx, nil)
		is.NoErr(err)          // no rooms
		is.Equal(len(none), 0) // no meetings
	})

	t.Run("ConcurrentUpdatesAreAtomic", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // create
		const workers, each = 8, 10
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			added []string
			fails []error
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					id := fmt.Sprintf("s-%d-%d", w, i)
					err := st.Update(ctx, "r1", func(m *meeting.Meeting) error {
						p := m.Participant("bob")
						p.Sessions = append(p.Sessions, id)
						m.EmptySince++
						return nil
					})
					mu.Lock()
					switch {
					case err == nil:
						added = append(added, id)
					case !errors.Is(err, meeting.ErrConflict):
						fails = append(fails, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		is.Equal(len(fails), 0) // only ErrConflict may end a contended update
		got, err := st.Get(ctx, "r1")
		is.NoErr(err) // get
		bob := got.Participant("bob")
		is.Equal(len(bob.Sessions), len(sampleMeeting("r1").Participants[1].Sessions)+len(added)) // no update was lost
		is.Equal(got.EmptySince, sampleMeeting("r1").EmptySince+int64(len(added)))                // each counted once
		have := map[string]bool{}
		for _, s := range bob.Sessions {
			is.True(!have[s]) // no update was applied twice
			have[s] = true
		}
		for _, id := range added {
			is.True(have[id]) // every successful update is there
		}
		is.True(len(added) > 0) // some updates went through
	})

	t.Run("RoomsAreIndependent", func(t *testing.T) {
		is := is.New(t)
		st := newStore(t)
		is.NoErr(st.Create(ctx, sampleMeeting("r1"))) // r1
		is.NoErr(st.Create(ctx, sampleMeeting("r2"))) // r2 is another room
		is.NoErr(st.Delete(ctx, "r1"))                // end r1
		got, err := st.Get(ctx, "r2")
		is.NoErr(err)                      // r2 is still there
		is.Equal(got, sampleMeeting("r2")) // unchanged
	})
}

// sampleMeeting returns a meeting with every field set, including server-side state (the
// lobby's lock and knocks, the host's removals).
func sampleMeeting(roomID string) meeting.Meeting {
	return meeting.Meeting{
		RoomID:      roomID,
		Host:        signaling.User{ID: "alice", Username: "Alice"},
		Type:        meeting.TypeGroup,
		MeetingLink: "/meeting/" + roomID,
		Status:      meeting.StatusActive,
		CreatedAt:   1700000000000,
		Participants: []meeting.Participant{
			{
				User:     signaling.User{ID: "alice", Username: "Alice"},
				JoinedAt: 1700000000000,
				Media:    meeting.Media{Audio: true, Video: true},
				Sessions: []string{"s-alice-1", "s-alice-2"},
			},
			{
				User:      signaling.User{ID: "bob", Username: "Bob"},
				JoinedAt:  1700000000100,
				Media:     meeting.Media{Screen: true, Hand: true},
				Sessions:  []string{"s-bob-1"},
				Dropped:   []string{"s-bob-0"},
				DroppedAt: 1700000000200,
			},
		},
		HostAwaySince: 1700000000300,
		EmptySince:    1700000000400,
		Locked:        true,
		Knocks: []meeting.Knock{
			{User: signaling.User{ID: "carol", Username: "Carol"}, At: 1700000000500, Sessions: []string{"s-carol-1", "s-carol-2"}},
		},
		Removed: []signaling.User{{ID: "mallory", Username: "Mallory"}},
	}
}
