package meeting_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// leasingStore is a MemoryStore shared by several in-process nodes that also implements
// meeting.Leaser, as a Redis store does.
type leasingStore struct {
	*meeting.MemoryStore
	mu     sync.Mutex
	rooms  map[string]bool
	leases map[string]memLease
}

type memLease struct {
	owner string
	until time.Time
}

func newLeasingStore() *leasingStore {
	return &leasingStore{MemoryStore: meeting.NewMemoryStore(nil), rooms: map[string]bool{}, leases: map[string]memLease{}}
}

var _ meeting.Leaser = (*leasingStore)(nil)

func (s *leasingStore) Create(ctx context.Context, m meeting.Meeting) error {
	s.mu.Lock()
	s.rooms[m.RoomID] = true
	s.mu.Unlock()
	return s.MemoryStore.Create(ctx, m)
}

func (s *leasingStore) Active(ctx context.Context) ([]meeting.Meeting, error) {
	s.mu.Lock()
	var rooms []string
	for r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	return s.ActiveIn(ctx, rooms)
}

func (s *leasingStore) Acquire(_ context.Context, roomID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[roomID]; ok && l.owner != owner && l.until.After(now) {
		return false, nil
	}
	s.leases[roomID] = memLease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

func (s *leasingStore) Release(_ context.Context, roomID, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases[roomID].owner == owner {
		delete(s.leases, roomID)
	}
	return nil
}

// holder returns the owner of the room's lease, or "".
func (s *leasingStore) holder(roomID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases[roomID].owner
}

// dyingStore is a node's view of a shared leasing store whose Release never happens, as when
// the node is killed without cleanup.
type dyingStore struct{ *leasingStore }

func (dyingStore) Release(context.Context, string, string) error { return nil }

// cluster is two Nodes (a and b) sharing a memory broker, a store and a manual clock, each with
// its meeting service. Room r1 has alice, bob, carol and erin as members.
type cluster struct {
	t       *testing.T
	clock   *clock.Manual
	members *roomMembers
	shared  *leasingStore
	a, b    *member
}

type member struct {
	node  *signaling.Node
	svc   *meeting.Service
	hooks *hookLog
}

func newCluster(t *testing.T, opts func(node string, o *meeting.Options)) *cluster {
	t.Helper()
	c := &cluster{t: t, clock: clock.NewManual(epoch), members: &roomMembers{}, shared: newLeasingStore()}
	c.members.add("r1", alice, bob, carol, erin)
	broker := signaling.NewMemoryBroker()
	secret := []byte("a secret the nodes of the cluster share")
	start := func(id string) *member {
		m := &member{hooks: &hookLog{seen: map[hookEvent]int{}, changed: make(chan struct{})}}
		m.node = signaling.NewNode(&signaling.NodeOptions{
			ID: id, Broker: broker, Clock: c.clock, ResumeSecret: secret, HandoverTimeout: wait,
		})
		m.node.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
			if ev != signaling.SessionConnected {
				return
			}
			rooms, _ := c.members.Rooms(ctx, s.User().ID)
			for _, r := range rooms {
				if err := m.node.Subscribe(ctx, s.ID(), chat.RoomTopic(r)); err != nil {
					t.Errorf("subscribe %s: %v", r, err)
				}
			}
		})
		o := meeting.Options{Store: c.shared, Members: c.members, RoomTopic: chat.RoomTopic, Logger: testLogger(t)}
		if opts != nil {
			opts(id, &o)
		}
		svc, err := meeting.New(m.node, &o)
		if err != nil {
			t.Fatal(err)
		}
		m.svc = svc
		m.node.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
			m.hooks.record(s.ID(), ev)
		})
		t.Cleanup(func() {
			m.svc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = m.node.Shutdown(ctx)
		})
		return m
	}
	c.a, c.b = start("node-a"), start("node-b")
	return c
}

// env returns a single-node env view of m, to reuse connect, drop and resume.
func (c *cluster) env(m *member) *env {
	return &env{t: c.t, clock: c.clock, node: m.node, members: c.members, store: c.shared.MemoryStore, svc: m.svc, hooks: m.hooks}
}

func TestTimersHandOverOnClose(t *testing.T) {
	is := is.New(t)
	c := newCluster(t, nil)
	ea, eb := c.env(c.a), c.env(c.b)
	a := ea.connect(alice)
	obs := eb.connect(carol) // a member on node b
	start(t, a, "r1")
	flush(t, obs)

	a.Send("leave_meeting", map[string]string{"roomId": "r1"})
	settle(t, a)
	is.Equal(c.shared.holder("r1"), "node-a") // the node that emptied the meeting owns its timers
	c.a.svc.Close()                           // a graceful shutdown of a's meetings
	is.Equal(c.shared.holder("r1"), "")       // releases the lease

	c.clock.Advance(meeting.DefaultSweepInterval)
	is.Equal(c.shared.holder("r1"), "node-b") // b's sweep takes the timers over
	c.clock.Advance(meeting.DefaultEmptyTimeout - meeting.DefaultSweepInterval - time.Millisecond)
	none(t, obs, "meeting_ended") // not before the empty timeout
	c.clock.Advance(time.Millisecond)
	var en endedData
	bindTo(t, obs.Expect("meeting_ended", wait), &en)
	is.Equal(en, endedData{RoomID: "r1", Reason: meeting.ReasonEmpty}) // b ends the meeting on time
	c.clock.Advance(2 * meeting.DefaultSweepInterval)
	none(t, obs, "meeting_ended")       // once
	is.True(ea.gone("r1"))              // deleted
	is.Equal(c.shared.holder("r1"), "") // and b let the lease go
}

func TestTimersTakenOverFromDeadNode(t *testing.T) {
	is := is.New(t)
	const ttl = 2 * time.Minute
	c := newCluster(t, func(node string, o *meeting.Options) {
		o.LeaseTTL = ttl
		if node == "node-a" {
			o.Store = dyingStore{c0(o)}
		}
	})
	ea, eb := c.env(c.a), c.env(c.b)
	a, bo := ea.connect(alice), ea.connect(bob)
	obs := eb.connect(carol)
	start(t, a, "r1")
	join(t, bo, "r1")
	a.Send("leave_meeting", map[string]string{"roomId": "r1"}) // the host leaves on purpose
	settle(t, a)
	ea.drop(bo)                               // bob's connection drops: a arms his grace
	is.Equal(c.shared.holder("r1"), "node-a") // and owns the room's timers
	c.a.svc.Close()                           // a dies without releasing its lease

	c.clock.Advance(meeting.DefaultParticipantGrace + meeting.DefaultSweepInterval)
	is.Equal(len(ea.stored("r1").Participants), 1) // nobody fired: a is dead, b waits for a's lease
	c.clock.Advance(ttl)
	is.Equal(c.shared.holder("r1"), "node-b")      // b took the lapsed lease
	is.Equal(len(ea.stored("r1").Participants), 0) // and fired bob's overdue grace
	c.clock.Advance(meeting.DefaultEmptyTimeout)
	var en endedData
	bindTo(t, obs.Expect("meeting_ended", wait), &en)
	is.Equal(en.Reason, meeting.ReasonEmpty) // then the empty timeout ended it
	c.clock.Advance(time.Minute)
	none(t, obs, "meeting_ended") // once
}

// c0 returns the shared leasing store an Options points at.
func c0(o *meeting.Options) *leasingStore { return o.Store.(*leasingStore) }

func TestTimersOfOtherNodesLease(t *testing.T) {
	is := is.New(t)
	c := newCluster(t, nil)
	ea, eb := c.env(c.a), c.env(c.b)
	a := ea.connect(alice)
	bo := eb.connect(bob)
	start(t, a, "r1")
	join(t, bo, "r1")
	flush(t, a)

	ea.drop(a) // the host's connection drops on a: a owns the timers
	is.Equal(c.shared.holder("r1"), "node-a")
	eb.drop(bo) // bob drops on b, which leaves his grace to the owner
	c.clock.Advance(meeting.DefaultSweepInterval)
	is.Equal(c.shared.holder("r1"), "node-a") // a renewed at its sweep, b could not take it
	c.clock.Advance(meeting.DefaultParticipantGrace - meeting.DefaultSweepInterval)
	is.Equal(len(ea.stored("r1").Participants), 0) // a fired both graces on time
	c.clock.Advance(meeting.DefaultHostGrace)
	is.True(ea.gone("r1")) // and then ended the meeting (the host left)
	c.clock.Advance(meeting.DefaultSweepInterval)
	is.Equal(c.shared.holder("r1"), "") // no lease is left
}

func TestResumeOnAnotherNode(t *testing.T) {
	is := is.New(t)
	c := newCluster(t, nil)
	ea, eb := c.env(c.a), c.env(c.b)
	a, bo := ea.connect(alice), ea.connect(bob)
	start(t, a, "r1")
	join(t, bo, "r1")
	flush(t, a)

	ea.drop(bo) // bob's node goes away, or his network does
	// bob's client comes back on node b, which takes the session over from a.
	cl := signalingtest.Connect(t, c.b.node, bob, &signaling.SessionOptions{ResumeToken: bo.token, LastSeq: bo.LastSeq()})
	var info struct {
		SessionID string `json:"sessionId"`
		Resumed   bool   `json:"resumed"`
	}
	bindTo(t, cl.Expect("session", wait), &info)
	is.True(info.Resumed)                // resumed on b
	is.Equal(info.SessionID, bo.session) // the same session
	eb.waitEvent(bo.session, signaling.SessionResumed)
	p := ea.stored("r1").Participant("bob")
	is.Equal(p.Sessions, []string{bo.session}) // b found the session's binding in the store
	is.Equal(p.DroppedAt, int64(0))            // and stopped the grace

	c.clock.Advance(2 * meeting.DefaultParticipantGrace)
	none(t, a, "meeting_user_left") // peers saw nothing
	a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": "v=0"})
	cl.Expect("video-signal", wait) // and reach bob on b
}

func TestEmptyTimeoutMemoryStore(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(carol)
	start(t, a, "r1")
	flush(t, b)
	a.Send("leave_meeting", map[string]string{"roomId": "r1"})
	settle(t, a)
	is.Equal(e.clock.Pending(), 1) // the empty timeout alone: a MemoryStore is no Leaser, so no sweep
	e.clock.Advance(meeting.DefaultEmptyTimeout + meeting.DefaultSweepInterval)
	var en endedData
	bindTo(t, b.Expect("meeting_ended", wait), &en)
	is.Equal(en.Reason, meeting.ReasonEmpty) // ended by the node's own timer
	e.clock.Advance(time.Minute)
	none(t, b, "meeting_ended")    // once
	is.Equal(e.clock.Pending(), 0) // no timer is left
}

func TestSweepDisabled(t *testing.T) {
	is := is.New(t)
	c := newCluster(t, func(_ string, o *meeting.Options) { o.SweepInterval = -1 })
	ea := c.env(c.a)
	a := ea.connect(alice)
	start(t, a, "r1")
	a.Send("leave_meeting", map[string]string{"roomId": "r1"})
	settle(t, a)
	is.Equal(c.shared.holder("r1"), "") // no leases with a negative SweepInterval
	c.clock.Advance(meeting.DefaultEmptyTimeout)
	_, err := c.shared.Get(context.Background(), "r1")
	is.True(errors.Is(err, meeting.ErrNotFound)) // the local timer ended the meeting
}
