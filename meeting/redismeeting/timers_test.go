package redismeeting_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/redismeeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"
)

// Two meeting Services on two Nodes, sharing a memory broker, one Redis store and a manual clock:
// the timers of a meeting move between them.

const wait = 2 * time.Second // bounds every expectation

var (
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
	carol = signaling.User{ID: "carol", Username: "Carol"}
	dave  = signaling.User{ID: "dave", Username: "Dave"}
	epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

// members is an in-test meeting.Members: room id → members.
type members map[string][]signaling.User

func (m members) IsMember(_ context.Context, roomID, userID string) (bool, error) {
	return slices.ContainsFunc(m[roomID], func(u signaling.User) bool { return u.ID == userID }), nil
}

func (m members) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	return slices.Clone(m[roomID]), nil
}

func (m members) Rooms(_ context.Context, userID string) ([]string, error) {
	var out []string
	for r, us := range m {
		if slices.ContainsFunc(us, func(u signaling.User) bool { return u.ID == userID }) {
			out = append(out, r)
		}
	}
	return out, nil
}

// deadStore is a node's handle on the shared store whose Release never happens, as when the node
// is killed without cleanup.
type deadStore struct{ *redismeeting.Store }

func (deadStore) Release(context.Context, string, string) error { return nil }

// splitStore is a node's handle on the shared store that believes every lease is its own, as a
// node cut off from the others might: it arms timers that another node arms too.
type splitStore struct{ *redismeeting.Store }

func (splitStore) Acquire(context.Context, string, string, time.Time, time.Duration) (bool, error) {
	return true, nil
}

type node struct {
	id   string
	hub  *signaling.Node
	svc  *meeting.Service
	mu   sync.Mutex
	seen map[string]int // "<session> <event>" → how many hooks ran
	ping chan struct{}
}

type world struct {
	t     *testing.T
	clock *clock.Manual
	store *redismeeting.Store
	rdb   redis.UniversalClient
	a, b  *node
}

// newWorld starts nodes a and b. Room r1 has alice, bob, carol and dave as members. store, if
// not nil, wraps the shared store for one node.
func newWorld(t *testing.T, opts *meeting.Options, store func(id string, s *redismeeting.Store) meeting.Store) *world {
	t.Helper()
	shared, rdb := newStore(t, nil)
	w := &world{t: t, clock: clock.NewManual(epoch), store: shared, rdb: rdb}
	rooms := members{"r1": {alice, bob, carol, dave}}
	broker := signaling.NewMemoryBroker()
	start := func(id string) *node {
		n := &node{id: id, seen: map[string]int{}, ping: make(chan struct{}, 1)}
		n.hub = signaling.NewNode(&signaling.NodeOptions{ID: id, Broker: broker, Clock: w.clock})
		// What chat does: every session of a member is subscribed to its room topics.
		n.hub.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
			if ev != signaling.SessionConnected {
				return
			}
			rs, _ := rooms.Rooms(ctx, s.User().ID)
			for _, r := range rs {
				if err := n.hub.Subscribe(ctx, s.ID(), chat.RoomTopic(r)); err != nil {
					t.Errorf("subscribe %s: %v", r, err)
				}
			}
		})
		var o meeting.Options
		if opts != nil {
			o = *opts
		}
		o.Members, o.RoomTopic = rooms, chat.RoomTopic
		o.Store = shared
		if store != nil {
			o.Store = store(id, shared)
		}
		svc, err := meeting.New(n.hub, &o)
		if err != nil {
			t.Fatal(err)
		}
		n.svc = svc
		n.hub.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
			n.mu.Lock()
			n.seen[s.ID()+" "+ev.String()]++
			n.mu.Unlock()
			select {
			case n.ping <- struct{}{}:
			default:
			}
		})
		t.Cleanup(func() {
			n.svc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = n.hub.Shutdown(ctx)
		})
		return n
	}
	w.a, w.b = start("node-a"), start("node-b")
	return w
}

type client struct {
	*signalingtest.Client
	session string
}

// connect starts a session of u on n; its start hooks have run when `session` arrives.
func (w *world) connect(n *node, u signaling.User) *client {
	w.t.Helper()
	c := signalingtest.Connect(w.t, n.hub, u, nil)
	var info struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.Expect("session", wait).Bind(&info); err != nil {
		w.t.Fatalf("session: %v", err)
	}
	return &client{Client: c, session: info.SessionID}
}

// drop loses c's connection (it may resume) and waits for n's hooks of the drop.
func (w *world) drop(n *node, c *client) {
	w.t.Helper()
	c.Close(signaling.StatusGoingAway)
	key := c.session + " " + signaling.SessionDropped.String()
	deadline := time.After(wait)
	for {
		n.mu.Lock()
		done := n.seen[key] > 0
		n.mu.Unlock()
		if done {
			return
		}
		select {
		case <-n.ping:
		case <-deadline:
			w.t.Fatalf("no drop hook for %s within %v", c.session, wait)
		}
	}
}

// settle waits until every frame queued for c has arrived: a pong queues behind them.
func settle(c *client) {
	c.Send("ping", map[string]any{})
	c.Expect("pong", wait)
}

// none asserts, after a barrier, that c got no frame of event.
func none(c *client, event string) {
	c.ExpectQuiet(event)
}

func (w *world) send(c *client, event, roomID string) {
	c.Send(event, map[string]string{"roomId": roomID})
	settle(c)
}

// owner returns the node whose lease on the room's timers runs at the clock's now, or "".
func (w *world) owner(roomID string) string {
	w.t.Helper()
	v, err := w.rdb.Get(ctx, redismeeting.LeaseKey(w.store, roomID)).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		w.t.Fatalf("read lease: %v", err)
	}
	until, owner, _ := strings.Cut(v, "|")
	ms, err := strconv.ParseInt(until, 10, 64)
	if err != nil {
		w.t.Fatalf("lease %q: %v", v, err)
	}
	if !time.UnixMilli(ms).After(w.clock.Now()) {
		return "" // lapsed
	}
	return owner
}

func (w *world) ended(c *client) string {
	w.t.Helper()
	var en struct {
		RoomID string `json:"roomId"`
		Reason string `json:"reason"`
	}
	if err := c.Expect("meeting_ended", wait).Bind(&en); err != nil {
		w.t.Fatalf("meeting_ended: %v", err)
	}
	return en.Reason
}

func (w *world) gone(roomID string) bool {
	_, err := w.store.Get(ctx, roomID)
	return errors.Is(err, meeting.ErrNotFound)
}

func TestMeetingSurvivesNodeShutdown(t *testing.T) {
	t.Run("EmptiedOnOtherNode", func(t *testing.T) {
		is := is.New(t)
		w := newWorld(t, nil, nil)
		host := w.connect(w.a, alice)
		obs := w.connect(w.b, carol)
		w.send(host, "start_meeting", "r1")
		host.Expect("meeting_started", wait)
		obs.Expect("meeting_invitation", wait)

		w.a.svc.Close() // node a goes away; the meeting stays in Redis
		back := w.connect(w.b, alice)
		w.send(back, "join_meeting", "r1") // alice's client comes back on b
		back.Expect("meeting_joined", wait)
		w.send(back, "leave_meeting", "r1") // and leaves: the meeting is empty
		is.Equal(w.owner("r1"), "node-b")   // b owns the empty timeout
		w.clock.Advance(meeting.DefaultEmptyTimeout + meeting.DefaultSweepInterval)
		is.Equal(w.ended(obs), meeting.ReasonEmpty) // b's timer ended it
		w.clock.Advance(time.Minute)
		none(obs, "meeting_ended") // once
		is.True(w.gone("r1"))      // deleted
	})

	t.Run("TimerHandedOver", func(t *testing.T) {
		is := is.New(t)
		w := newWorld(t, nil, nil)
		host := w.connect(w.a, alice)
		obs := w.connect(w.b, carol)
		w.send(host, "start_meeting", "r1")
		w.send(host, "leave_meeting", "r1") // empty: a arms the empty timeout
		is.Equal(w.owner("r1"), "node-a")   // and holds the lease
		w.a.svc.Close()                     // a graceful shutdown
		is.Equal(w.owner("r1"), "")         // releases it

		w.clock.Advance(meeting.DefaultSweepInterval)
		is.Equal(w.owner("r1"), "node-b") // b's sweep takes the timers over
		w.clock.Advance(meeting.DefaultEmptyTimeout - meeting.DefaultSweepInterval - time.Millisecond)
		none(obs, "meeting_ended") // not early
		w.clock.Advance(time.Millisecond)
		is.Equal(w.ended(obs), meeting.ReasonEmpty) // on time
		w.clock.Advance(time.Minute)
		none(obs, "meeting_ended")  // once
		is.True(w.gone("r1"))       // deleted
		is.Equal(w.owner("r1"), "") // and b let the lease go
	})
}

func TestTimersTakenOverFromKilledNode(t *testing.T) {
	is := is.New(t)
	const ttl = 2 * time.Minute
	w := newWorld(t, &meeting.Options{LeaseTTL: ttl}, func(id string, s *redismeeting.Store) meeting.Store {
		if id == "node-a" {
			return deadStore{s}
		}
		return s
	})
	host, part := w.connect(w.a, alice), w.connect(w.a, bob)
	obs := w.connect(w.b, carol)
	w.send(host, "start_meeting", "r1")
	w.send(part, "join_meeting", "r1")
	w.send(host, "leave_meeting", "r1") // the host leaves on purpose: bob is alone
	w.drop(w.a, part)                   // bob's connection drops: a arms his grace
	is.Equal(w.owner("r1"), "node-a")   // under a's lease
	w.a.svc.Close()                     // a is killed: its lease stays

	w.clock.Advance(meeting.DefaultParticipantGrace + meeting.DefaultSweepInterval)
	m, err := w.store.Get(ctx, "r1")
	is.NoErr(err)                    // the meeting is there
	is.Equal(len(m.Participants), 1) // nobody fired bob's grace: b waits for a's lease
	w.clock.Advance(ttl)
	is.Equal(w.owner("r1"), "node-b") // b took the lapsed lease over
	m, err = w.store.Get(ctx, "r1")
	is.NoErr(err)                    // the meeting is there
	is.Equal(len(m.Participants), 0) // b fired the overdue grace at once
	w.clock.Advance(meeting.DefaultEmptyTimeout)
	is.Equal(w.ended(obs), meeting.ReasonEmpty) // then the empty timeout
	w.clock.Advance(time.Minute)
	none(obs, "meeting_ended") // once
	is.True(w.gone("r1"))      // deleted
}

func TestSplitBrainEndsOnce(t *testing.T) {
	is := is.New(t)
	w := newWorld(t, nil, func(id string, s *redismeeting.Store) meeting.Store {
		if id == "node-a" {
			return splitStore{s}
		}
		return s
	})
	host := w.connect(w.a, alice)
	onA, onB := w.connect(w.a, dave), w.connect(w.b, carol)
	w.send(host, "start_meeting", "r1")
	w.send(host, "leave_meeting", "r1") // a arms the empty timeout, believing it holds the lease
	w.clock.Advance(meeting.DefaultSweepInterval)
	is.Equal(w.owner("r1"), "node-b") // b took the (free) lease and armed it too
	w.clock.Advance(meeting.DefaultEmptyTimeout)
	is.Equal(w.ended(onA), meeting.ReasonEmpty) // both timers fired
	is.Equal(w.ended(onB), meeting.ReasonEmpty) // but one of them ended the meeting
	w.clock.Advance(time.Minute)
	none(onA, "meeting_ended") // once
	none(onB, "meeting_ended") // once
	for _, c := range []*client{onA, onB} {
		var inactive int
		for _, f := range c.Frames("meeting_invitation") {
			var m struct{ Status string }
			is.NoErr(f.Bind(&m)) // an invitation
			if m.Status == meeting.StatusInactive {
				inactive++
			}
		}
		is.Equal(inactive, 1) // the invitation was revoked once
	}
}

// TestRecoverLeavesSharedStoreAlone: Recover is safe to call on a Store that several nodes
// share: node b's start (a restart, say) unbinds none of node a's live sessions.
func TestRecoverLeavesSharedStoreAlone(t *testing.T) {
	is := is.New(t)
	w := newWorld(t, nil, nil)
	a := w.connect(w.a, alice)
	w.send(a, "start_meeting", "r1")
	is.NoErr(w.b.svc.Recover(context.Background())) // a no-op on a shared Store
	m, err := w.store.Get(context.Background(), "r1")
	is.NoErr(err)                                                   // the meeting is stored
	is.Equal(m.Participant(alice.ID).Sessions, []string{a.session}) // alice's session on node a is still bound
	is.Equal(m.Participant(alice.ID).DroppedAt, int64(0))           // and no grace started
}
