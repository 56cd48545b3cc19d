// Package storetest holds one contract test per store interface of Huddle, run against the
// memory and the Redis implementations alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

// Chat checks a chat.Store and chat.Membership pair against their contract. newStore returns
// empty stores for one subtest; it is called once per subtest.
func Chat(t *testing.T, newStore func(t *testing.T) (chat.Store, chat.Membership)) {
	ctx := context.Background()
	alice := signaling.User{ID: "alice", Username: "Alice"}
	bob := signaling.User{ID: "bob", Username: "Bob"}

	t.Run("HistoryOfEmptyRoom", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		msgs, more, err := st.History(ctx, "nowhere", "", 10)
		is.NoErr(err)          // an unknown room has an empty history
		is.Equal(len(msgs), 0) // no messages
		is.True(!more)         // nothing older
	})

	t.Run("AppendKeepsOrder", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		want := appendN(t, st, "r1", alice, 3)
		got, more, err := st.History(ctx, "r1", "", 10)
		is.NoErr(err)                     // history of r1
		is.True(!more)                    // all three fit
		is.NoErr(sameMessages(got, want)) // oldest first, as appended, fields intact
	})

	t.Run("AppendRequiresIDs", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		_, _, err := st.Append(ctx, chat.Message{RoomID: "r1", Content: "x", Sender: alice})
		is.True(errors.Is(err, chat.ErrInvalid)) // a message without id is refused
		_, _, err = st.Append(ctx, chat.Message{ID: newID(t), Content: "x", Sender: alice})
		is.True(errors.Is(err, chat.ErrInvalid)) // a message without room is refused
	})

	t.Run("RoomsAreSeparate", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		a := appendN(t, st, "ra", alice, 2)
		b := appendN(t, st, "rb", bob, 1)
		got, _, err := st.History(ctx, "ra", "", 10)
		is.NoErr(err)                  // history of ra
		is.NoErr(sameMessages(got, a)) // only ra's messages
		got, _, err = st.History(ctx, "rb", "", 10)
		is.NoErr(err)                  // history of rb
		is.NoErr(sameMessages(got, b)) // only rb's messages
		_, _, err = st.History(ctx, "rb", a[1].ID, 10)
		is.True(errors.Is(err, chat.ErrNotFound)) // a message of another room is not a valid cursor
	})

	t.Run("Pagination", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		m := appendN(t, st, "r1", alice, 5)

		page, more, err := st.History(ctx, "r1", "", 2)
		is.NoErr(err)                        // newest page
		is.NoErr(sameMessages(page, m[3:5])) // the newest two, oldest first
		is.True(more)                        // three are older

		page, more, err = st.History(ctx, "r1", page[0].ID, 2)
		is.NoErr(err)                        // second page
		is.NoErr(sameMessages(page, m[1:3])) // the two before
		is.True(more)                        // one is older

		page, more, err = st.History(ctx, "r1", page[0].ID, 2)
		is.NoErr(err)                        // last page
		is.NoErr(sameMessages(page, m[0:1])) // the oldest alone
		is.True(!more)                       // nothing older

		page, more, err = st.History(ctx, "r1", m[0].ID, 2)
		is.NoErr(err)          // before the oldest
		is.Equal(len(page), 0) // nothing
		is.True(!more)         // nothing older

		page, more, err = st.History(ctx, "r1", "", 5)
		is.NoErr(err)                   // exactly all
		is.NoErr(sameMessages(page, m)) // all five
		is.True(!more)                  // a full page with nothing older has no more

		page, more, err = st.History(ctx, "r1", m[4].ID, 4)
		is.NoErr(err)                       // the four before the newest
		is.NoErr(sameMessages(page, m[:4])) // all the older ones
		is.True(!more)                      // and nothing beyond

		_, _, err = st.History(ctx, "r1", newID(t), 2)
		is.True(errors.Is(err, chat.ErrNotFound)) // an unknown cursor is ErrNotFound
		_, _, err = st.History(ctx, "empty", newID(t), 2)
		is.True(errors.Is(err, chat.ErrNotFound)) // also in a room without messages
	})

	t.Run("HistoryAfter", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		fwd, ok := st.(chat.HistoryAfterStore)
		if !ok {
			t.Skip("storetest: the store does not implement chat.HistoryAfterStore")
		}
		m := appendN(t, st, "r1", alice, 5)
		appendN(t, st, "r2", bob, 2)

		page, more, err := fwd.HistoryAfter(ctx, "r1", m[0].ID, 2)
		is.NoErr(err)                        // the first page after the oldest
		is.NoErr(sameMessages(page, m[1:3])) // the next two, oldest first
		is.True(more)                        // two are newer

		page, more, err = fwd.HistoryAfter(ctx, "r1", page[1].ID, 2)
		is.NoErr(err)                        // second page
		is.NoErr(sameMessages(page, m[3:5])) // the last two
		is.True(!more)                       // nothing newer

		page, more, err = fwd.HistoryAfter(ctx, "r1", m[4].ID, 2)
		is.NoErr(err)          // after the newest
		is.Equal(len(page), 0) // nothing
		is.True(!more)         // nothing newer

		page, more, err = fwd.HistoryAfter(ctx, "r1", m[1].ID, 3)
		is.NoErr(err)                        // exactly the rest
		is.NoErr(sameMessages(page, m[2:5])) // all three
		is.True(!more)                       // a full page with nothing newer has no more

		_, _, err = fwd.HistoryAfter(ctx, "r1", newID(t), 2)
		is.True(errors.Is(err, chat.ErrNotFound)) // an unknown cursor is ErrNotFound
		_, _, err = fwd.HistoryAfter(ctx, "r2", m[0].ID, 2)
		is.True(errors.Is(err, chat.ErrNotFound)) // a message of another room is not a valid cursor
	})

	t.Run("Idempotency", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		first := message(t, "r1", alice, "hello")
		first.ClientMsgID = "c1"
		got, existing, err := st.Append(ctx, first)
		is.NoErr(err)                     // first append
		is.True(!existing)                // a new message
		is.NoErr(sameMessage(got, first)) // Append returns what it stored

		again := message(t, "r1", alice, "hello again")
		again.ClientMsgID = "c1"
		got, existing, err = st.Append(ctx, again)
		is.NoErr(err)                     // repeated append
		is.True(existing)                 // the same client message id from the same sender
		is.NoErr(sameMessage(got, first)) // the stored message comes back, not the new one

		other := message(t, "r1", bob, "hello from bob")
		other.ClientMsgID = "c1"
		got, existing, err = st.Append(ctx, other)
		is.NoErr(err)                     // another sender's append
		is.True(!existing)                // ids are per sender
		is.NoErr(sameMessage(got, other)) // a message of its own

		elsewhere := message(t, "r2", alice, "same id, other room")
		elsewhere.ClientMsgID = "c1"
		got, existing, err = st.Append(ctx, elsewhere)
		is.NoErr(err)                     // same sender and id in another room
		is.True(existing)                 // the key is (sender, clientMsgId), whatever the room
		is.NoErr(sameMessage(got, first)) // the first message again

		plain1 := message(t, "r1", alice, "no id")
		plain2 := message(t, "r1", alice, "no id")
		_, e1, err1 := st.Append(ctx, plain1)
		_, e2, err2 := st.Append(ctx, plain2)
		is.NoErr(err1)      // a message without client id
		is.NoErr(err2)      // another one
		is.True(!e1 && !e2) // messages without a client id are never deduplicated

		hist, _, err := st.History(ctx, "r1", "", 10)
		is.NoErr(err)                                                              // history
		is.NoErr(sameMessages(hist, []chat.Message{first, other, plain1, plain2})) // no duplicate stored
		hist, _, err = st.History(ctx, "r2", "", 10)
		is.NoErr(err)          // history of r2
		is.Equal(len(hist), 0) // the repeat stored nothing there
	})

	t.Run("ConcurrentAppends", func(t *testing.T) {
		is := is.New(t)
		st, _ := newStore(t)
		const n = 20
		var wg sync.WaitGroup
		results := make([]chat.Message, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := message(t, "r1", alice, fmt.Sprint("m", i))
				m.ClientMsgID = fmt.Sprint("c", i%5)
				results[i], _, errs[i] = st.Append(ctx, m)
			}()
		}
		wg.Wait()
		ids := map[string]bool{}
		for i := range n {
			is.NoErr(errs[i]) // every append succeeds
			ids[results[i].ID] = true
		}
		is.Equal(len(ids), 5) // one stored message per client id, even under concurrency
		hist, _, err := st.History(ctx, "r1", "", 100)
		is.NoErr(err)          // history
		is.Equal(len(hist), 5) // nothing duplicated
	})

	t.Run("JoinIsIdempotent", func(t *testing.T) {
		is := is.New(t)
		_, ms := newStore(t)
		is.NoErr(ms.Join(ctx, "r1", alice)) // first join
		is.NoErr(ms.Join(ctx, "r1", alice)) // second join
		renamed := signaling.User{ID: "alice", Username: "Alice B."}
		is.NoErr(ms.Join(ctx, "r1", renamed)) // joining again with a new name
		members, err := ms.Members(ctx, "r1")
		is.NoErr(err)                                // members
		is.Equal(members, []signaling.User{renamed}) // one member, with the latest User
		rooms, err := ms.Rooms(ctx, "alice")
		is.NoErr(err)                   // rooms
		is.Equal(rooms, []string{"r1"}) // one room
	})

	t.Run("MembersAndRooms", func(t *testing.T) {
		is := is.New(t)
		_, ms := newStore(t)
		is.NoErr(ms.Join(ctx, "r1", alice)) // alice joins r1
		is.NoErr(ms.Join(ctx, "r1", bob))   // bob joins r1
		is.NoErr(ms.Join(ctx, "r2", alice)) // alice joins r2

		members, err := ms.Members(ctx, "r1")
		is.NoErr(err)                                              // members of r1
		is.Equal(sortUsers(members), []signaling.User{alice, bob}) // both
		members, err = ms.Members(ctx, "r2")
		is.NoErr(err)                              // members of r2
		is.Equal(members, []signaling.User{alice}) // alice alone
		members, err = ms.Members(ctx, "nowhere")
		is.NoErr(err)             // members of an unknown room
		is.Equal(len(members), 0) // none

		rooms, err := ms.Rooms(ctx, "alice")
		is.NoErr(err)                                      // alice's rooms
		is.Equal(sortStrings(rooms), []string{"r1", "r2"}) // both
		rooms, err = ms.Rooms(ctx, "bob")
		is.NoErr(err)                   // bob's rooms
		is.Equal(rooms, []string{"r1"}) // one
		rooms, err = ms.Rooms(ctx, "nobody")
		is.NoErr(err)           // rooms of an unknown user
		is.Equal(len(rooms), 0) // none

		ok, err := ms.IsMember(ctx, "r2", "alice")
		is.NoErr(err) // IsMember
		is.True(ok)   // alice is in r2
		ok, err = ms.IsMember(ctx, "r2", "bob")
		is.NoErr(err) // IsMember
		is.True(!ok)  // bob is not in r2
		ok, err = ms.IsMember(ctx, "nowhere", "bob")
		is.NoErr(err) // IsMember of an unknown room
		is.True(!ok)  // nobody is
	})

	t.Run("Leave", func(t *testing.T) {
		is := is.New(t)
		_, ms := newStore(t)
		is.NoErr(ms.Join(ctx, "r1", alice))       // alice joins r1
		is.NoErr(ms.Join(ctx, "r1", bob))         // bob joins r1
		is.NoErr(ms.Join(ctx, "r2", alice))       // alice joins r2
		is.NoErr(ms.Leave(ctx, "r1", "alice"))    // alice leaves r1
		is.NoErr(ms.Leave(ctx, "r1", "alice"))    // leaving again is fine
		is.NoErr(ms.Leave(ctx, "nowhere", "bob")) // leaving a room one never joined is fine

		ok, err := ms.IsMember(ctx, "r1", "alice")
		is.NoErr(err) // IsMember
		is.True(!ok)  // alice left r1
		members, err := ms.Members(ctx, "r1")
		is.NoErr(err)                            // members of r1
		is.Equal(members, []signaling.User{bob}) // bob stays
		rooms, err := ms.Rooms(ctx, "alice")
		is.NoErr(err)                   // alice's rooms
		is.Equal(rooms, []string{"r2"}) // r2 only

		is.NoErr(ms.Leave(ctx, "r1", "bob")) // the last member leaves
		members, err = ms.Members(ctx, "r1")
		is.NoErr(err)                       // members of the emptied room
		is.Equal(len(members), 0)           // none
		is.NoErr(ms.Join(ctx, "r1", alice)) // rejoining after leaving
		ok, err = ms.IsMember(ctx, "r1", "alice")
		is.NoErr(err) // IsMember
		is.True(ok)   // alice is back
	})

	t.Run("ConcurrentJoins", func(t *testing.T) {
		is := is.New(t)
		_, ms := newStore(t)
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, 2*n)
		for i := range n {
			wg.Add(2)
			u := signaling.User{ID: fmt.Sprint("u", i), Username: fmt.Sprint("U", i)}
			go func() { defer wg.Done(); errs[2*i] = ms.Join(ctx, "r1", u) }()
			go func() { defer wg.Done(); errs[2*i+1] = ms.Join(ctx, "r1", u) }()
		}
		wg.Wait()
		for _, err := range errs {
			is.NoErr(err) // every join succeeds
		}
		members, err := ms.Members(ctx, "r1")
		is.NoErr(err)             // members
		is.Equal(len(members), n) // each user once
	})
}

var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("storetest: uuid: %v", err)
	}
	return id.String()
}

var tick struct {
	mu sync.Mutex
	n  int
}

// message returns a message as the chat Service would append it: a fresh UUIDv7 id and
// millisecond UTC times that increase from call to call.
func message(t *testing.T, roomID string, from signaling.User, content string) chat.Message {
	t.Helper()
	tick.mu.Lock()
	tick.n++
	at := base.Add(time.Duration(tick.n) * time.Millisecond)
	id := newID(t)
	tick.mu.Unlock()
	return chat.Message{ID: id, RoomID: roomID, Content: content, Sender: from, CreatedAt: at, UpdatedAt: at}
}

func appendN(t *testing.T, st chat.Store, roomID string, from signaling.User, n int) []chat.Message {
	t.Helper()
	out := make([]chat.Message, n)
	for i := range n {
		m := message(t, roomID, from, fmt.Sprintf("%s #%d", roomID, i))
		got, existing, err := st.Append(context.Background(), m)
		if err != nil || existing {
			t.Fatalf("storetest: append %d: existing=%v err=%v", i, existing, err)
		}
		out[i] = got
	}
	return out
}

func sameMessage(got, want chat.Message) error {
	if got.ID != want.ID || got.RoomID != want.RoomID || got.Content != want.Content ||
		got.Sender != want.Sender || got.ClientMsgID != want.ClientMsgID ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		return fmt.Errorf("got message %+v, want %+v", got, want)
	}
	return nil
}

func sameMessages(got, want []chat.Message) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d messages %v, want %d %v", len(got), contents(got), len(want), contents(want))
	}
	for i := range got {
		if err := sameMessage(got[i], want[i]); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return nil
}

func contents(ms []chat.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

func sortUsers(us []signaling.User) []signaling.User {
	out := slices.Clone(us)
	slices.SortFunc(out, func(a, b signaling.User) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func sortStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// ChatIdempotencyWindow checks that a chat.Store remembers a sender's clientMsgId for exactly
// chat.IdempotencyWindow, measured on the clock it was built with: a repeat within the window
// returns the first message, one at its end is stored as new. newStore returns an empty store
// that reads time from clk.
func ChatIdempotencyWindow(t *testing.T, newStore func(t *testing.T, clk clock.Clock) chat.Store) {
	is := is.New(t)
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	s := newStore(t, clk)
	alice := signaling.User{ID: "alice", Username: "Alice"}
	first := message(t, "r1", alice, "first")
	first.ClientMsgID = "c1"
	_, existing, err := s.Append(ctx, first)
	is.NoErr(err)      // first
	is.True(!existing) // new

	clk.Advance(chat.IdempotencyWindow - time.Millisecond)
	again := message(t, "r1", alice, "again")
	again.ClientMsgID = "c1"
	got, existing, err := s.Append(ctx, again)
	is.NoErr(err)              // within the window
	is.True(existing)          // remembered
	is.Equal(got.ID, first.ID) // the first message back

	clk.Advance(time.Millisecond)
	got, existing, err = s.Append(ctx, again)
	is.NoErr(err)              // at the end of the window
	is.True(!existing)         // forgotten
	is.Equal(got.ID, again.ID) // stored as a new message

	hist, _, err := s.History(ctx, "r1", "", 10)
	is.NoErr(err)                                        // history
	is.Equal(contents(hist), []string{"first", "again"}) // both, once each
}
