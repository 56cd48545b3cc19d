package presence_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// stallStore blocks alice's SetStatus until its context ends, as a frozen Redis would.
type stallStore struct {
	presence.Store
	entered chan struct{}
}

func (s *stallStore) SetStatus(ctx context.Context, u string, st presence.Status) (bool, error) {
	if u != "alice" {
		return s.Store.SetStatus(ctx, u, st)
	}
	s.entered <- struct{}{}
	<-ctx.Done()
	return false, fmt.Errorf("%w: %w", signaling.ErrUnavailable, ctx.Err())
}

// A stalled store call of one user holds up no other user, and is answered `unavailable` when
// its deadline passes.
func TestStalledStoreIsBoundedAndBlocksNobodyElse(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	store := &stallStore{Store: presence.NewMemoryStore(nil), entered: make(chan struct{}, 1)}
	node, _, _ := startNode(t, clk, nil, &presence.Options{
		Store:       store,
		Rooms:       rooms{"r1": {alice, bob, carol}},
		CallTimeout: 100 * time.Millisecond, // a deadline the test waits out, not a sleep
	})
	c, _ := connect(t, node, carol)
	a, _ := connect(t, node, alice)
	b, _ := connect(t, node, bob)
	expectPresence(t, c) // alice online
	expectPresence(t, c) // bob online

	a.SendRef("presence", map[string]string{"status": "away"}, "stuck")
	select {
	case <-store.entered: // alice's change is inside the store call
	case <-time.After(wait):
		t.Fatal("alice's SetStatus never reached the store")
	}
	b.Send("presence", map[string]string{"status": "away"})
	p := expectPresence(t, c)
	is.Equal(p.User.ID, "bob") // bob's change goes through while alice's call is stalled
	is.Equal(p.Status, "away")

	code, f := a.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // the stalled call ends at its deadline: unavailable
	is.Equal(f.Ref, "stuck")
	c.ExpectQuiet("presence") // and nothing was announced for alice
}

// flakyRooms fails every lookup while fail is set.
type flakyRooms struct {
	rooms
	fail atomic.Bool
}

func (r *flakyRooms) Rooms(ctx context.Context, userID string) ([]string, error) {
	if r.fail.Load() {
		return nil, errDown
	}
	return r.rooms.Rooms(ctx, userID)
}

// flakyHub fails every Publish while fail is set.
type flakyHub struct {
	*signaling.Node
	fail      atomic.Bool
	publishes atomic.Int64
}

func (h *flakyHub) Publish(ctx context.Context, topic string, e signaling.Envelope, opts ...signaling.PublishOption) error {
	h.publishes.Add(1)
	if h.fail.Load() {
		return fmt.Errorf("%w: broker down", signaling.ErrUnavailable)
	}
	return h.Node.Publish(ctx, topic, e, opts...)
}

// An announcement whose audience lookup or publish failed is retried at the next heartbeat, not
// dropped; a newer change replaces it.
func TestFailedAnnouncementIsRetried(t *testing.T) {
	for _, tc := range []string{"audience lookup fails", "publish fails"} {
		t.Run(tc, func(t *testing.T) {
			is := is.New(t)
			clk := clock.NewManual(t0)
			log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
			node := signaling.NewNode(&signaling.NodeOptions{Clock: clk, Logger: log})
			rs := &flakyRooms{rooms: rooms{"r1": {alice, bob}, "r2": {alice, carol}}}
			hub := &flakyHub{Node: node}
			node.OnSessionAt(signaling.StageSubscribe, roomSubscriber(node, rs.rooms))
			tr, err := presence.New(hub, &presence.Options{Rooms: rs, RoomTopic: chat.RoomTopic, Clock: clk, Logger: log})
			is.NoErr(err)
			hooks := &hookLog{note: make(chan struct{})}
			node.OnSession(hooks.record)
			t.Cleanup(func() {
				_ = node.Shutdown(context.Background())
				_ = tr.Close()
			})
			b, _ := connect(t, node, bob)
			c, _ := connect(t, node, carol)

			if tc == "audience lookup fails" {
				rs.fail.Store(true)
			} else {
				hub.fail.Store(true)
			}
			a := signalingtest.Connect(t, node, alice, nil)
			hooks.wait(t, "connected alice")
			b.ExpectQuiet("presence") // the announcement failed
			c.ExpectQuiet("presence")
			st, err := tr.Status(context.Background(), "alice")
			is.NoErr(err)
			is.Equal(st.Status, presence.StatusOnline) // though alice is recorded online

			clk.Advance(5 * time.Second) // a heartbeat while it still fails: kept for later
			b.ExpectQuiet("presence")
			rs.fail.Store(false)
			hub.fail.Store(false)
			clk.Advance(5 * time.Second)                    // the next heartbeat retries it
			is.Equal(expectPresence(t, b).Status, "online") // both rooms hear of alice
			is.Equal(expectPresence(t, c).Status, "online")
			clk.Advance(5 * time.Second)
			b.ExpectQuiet("presence") // once
			c.ExpectQuiet("presence")

			// A change that fails and is replaced by a newer one before the retry: only the
			// newer is announced.
			hub.fail.Store(true)
			rs.fail.Store(tc == "audience lookup fails")
			a.Send("presence", map[string]string{"status": "away"})
			a.Sync(wait)
			rs.fail.Store(false)
			hub.fail.Store(false)
			a.Send("presence", map[string]string{"status": "online"})
			a.Sync(wait)
			is.Equal(expectPresence(t, b).Status, "online")
			clk.Advance(5 * time.Second)
			b.ExpectQuiet("presence") // the failed "away" was superseded, not replayed late
		})
	}
}

// A change is published once per room of the user, however many co-members the room has: one
// encode and one broker publish (one Redis PUBLISH) per room, not one per co-member.
func TestOnePublishPerRoom(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	node := signaling.NewNode(&signaling.NodeOptions{Clock: clk})
	big := []signaling.User{alice}
	for i := range 50 {
		big = append(big, signaling.User{ID: fmt.Sprint("u", i)})
	}
	rs := rooms{"big": big, "small": {alice, bob}}
	hub := &flakyHub{Node: node}
	node.OnSessionAt(signaling.StageSubscribe, roomSubscriber(node, rs))
	tr, err := presence.New(hub, &presence.Options{Rooms: rs, RoomTopic: chat.RoomTopic, Clock: clk})
	is.NoErr(err)
	t.Cleanup(func() {
		_ = node.Shutdown(context.Background())
		_ = tr.Close()
	})
	var members []*signalingtest.Client
	for _, u := range append(big[1:], bob) {
		c, _ := connect(t, node, u)
		members = append(members, c)
	}
	for _, c := range members {
		c.Sync(wait)
		c.Drain() // the members' own comings online
	}
	before := hub.publishes.Load()
	connect(t, node, alice)
	is.Equal(hub.publishes.Load()-before, int64(2)) // alice came online: one publish per room, for 51 co-members
	for _, c := range members {
		is.Equal(expectPresence(t, c).User.ID, "alice") // and every co-member heard it
	}
}
