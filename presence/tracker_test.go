package presence_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
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

const (
	wait = 2 * time.Second // for events that must come
)

var (
	t0    = time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
	carol = signaling.User{ID: "carol", Username: "Carol"}
	dave  = signaling.User{ID: "dave", Username: "Dave"}
	erin  = signaling.User{ID: "erin", Username: "Erin"}
	frank = signaling.User{ID: "frank", Username: "Frank"}
)

// rooms stands in for chat's membership: room id → members.
type rooms map[string][]signaling.User

func (r rooms) Rooms(_ context.Context, userID string) ([]string, error) {
	var out []string
	for id, ms := range r {
		for _, m := range ms {
			if m.ID == userID {
				out = append(out, id)
				break
			}
		}
	}
	return out, nil
}

func (r rooms) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	return r[roomID], nil
}

// hookLog records session events after the Tracker's hook has run (hooks run in registration
// order), so a test can wait for the Tracker to have handled one.
type hookLog struct {
	mu   sync.Mutex
	evs  []string
	note chan struct{}
}

func (h *hookLog) record(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
	h.mu.Lock()
	h.evs = append(h.evs, ev.String()+" "+s.User().ID)
	close(h.note)
	h.note = make(chan struct{})
	h.mu.Unlock()
}

// wait consumes the first recorded "event user" equal to want, failing the test after wait.
func (h *hookLog) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		for i, e := range h.evs {
			if e == want {
				h.evs = append(h.evs[:i:i], h.evs[i+1:]...)
				h.mu.Unlock()
				return
			}
		}
		note := h.note
		h.mu.Unlock()
		select {
		case <-note:
		case <-deadline.C:
			t.Fatalf("no session event %q within %v", want, wait)
		}
	}
}

// roomSubscriber subscribes each starting session to the topics of its user's rooms, as chat
// does: presence publishes to those topics. Register it before the Tracker.
func roomSubscriber(hub signaling.Hub, rs presence.Rooms) signaling.SessionHook {
	return func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev != signaling.SessionConnected && ev != signaling.SessionResumed {
			return
		}
		ids, err := rs.Rooms(ctx, s.User().ID)
		if err != nil {
			panic(err)
		}
		for _, r := range ids {
			if err := hub.Subscribe(ctx, s.ID(), chat.RoomTopic(r)); err != nil {
				panic(err)
			}
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startNode runs a Node with a Tracker on clk and shuts both down when the test ends.
func startNode(t *testing.T, clk *clock.Manual, nodeOpts *signaling.NodeOptions, trOpts *presence.Options) (*signaling.Node, *presence.Tracker, *hookLog) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	no := signaling.NodeOptions{}
	if nodeOpts != nil {
		no = *nodeOpts
	}
	no.Clock, no.Logger = clk, log
	node := signaling.NewNode(&no)
	to := presence.Options{}
	if trOpts != nil {
		to = *trOpts
	}
	to.Logger = log
	if to.RoomTopic == nil {
		to.RoomTopic = chat.RoomTopic
	}
	if to.Rooms != nil {
		node.OnSessionAt(signaling.StageSubscribe, roomSubscriber(node, to.Rooms))
	}
	tr, err := presence.New(node, &to)
	if err != nil {
		t.Fatal(err)
	}
	hooks := &hookLog{note: make(chan struct{})}
	node.OnSession(hooks.record)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		_ = tr.Close()
	})
	return node, tr, hooks
}

type wirePresence struct {
	User     signaling.User `json:"user"`
	Status   string         `json:"status"`
	LastSeen string         `json:"lastSeen"`
}

type wireSnapshot struct {
	Users []wirePresence `json:"users"`
}

func ms(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// connect starts a session and waits for its snapshot, which the Tracker sends after it
// recorded the session (and published its coming online).
func connect(t *testing.T, node *signaling.Node, u signaling.User) (*signalingtest.Client, wireSnapshot) {
	t.Helper()
	c := signalingtest.Connect(t, node, u, nil)
	c.Expect("session", wait)
	var snap wireSnapshot
	if err := c.Expect("presence_snapshot", wait).Bind(&snap); err != nil {
		t.Fatalf("bind presence_snapshot: %v", err)
	}
	return c, snap
}

func expectPresence(t *testing.T, c *signalingtest.Client) wirePresence {
	t.Helper()
	var p wirePresence
	f := c.Expect("presence", wait)
	if err := f.Bind(&p); err != nil {
		t.Fatalf("bind presence: %v", err)
	}
	return p
}

func TestTabs(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	node, tr, hooks := startNode(t, clk, nil, &presence.Options{Rooms: rooms{"r1": {alice, bob}}})
	b, _ := connect(t, node, bob)

	tab1, _ := connect(t, node, alice)
	p := expectPresence(t, b)
	is.Equal(p.User, alice)      // bob learns about alice, with her name
	is.Equal(p.Status, "online") // from her first tab
	is.Equal(p.LastSeen, "")     // online carries no lastSeen

	tab2, _ := connect(t, node, alice)
	b.ExpectQuiet("presence") // a second tab changes nothing visible

	clk.Advance(3 * time.Second)
	tab1.Close(signaling.StatusNormalClosure)
	hooks.wait(t, "gone alice")
	b.ExpectQuiet("presence") // one of two tabs closing changes nothing
	e, err := tr.Status(context.Background(), "alice")
	is.NoErr(err)
	is.Equal(e.Status, presence.StatusOnline) // alice is still online

	clk.Advance(2 * time.Second)
	tab2.Close(signaling.StatusNormalClosure)
	p = expectPresence(t, b)
	is.Equal(p.User.ID, "alice")                    // bob learns alice left
	is.Equal(p.Status, "offline")                   // with her last tab
	is.Equal(p.LastSeen, ms(t0.Add(5*time.Second))) // last seen when it closed, RFC 3339 ms
	b.ExpectQuiet("presence")                       // exactly once
	e, err = tr.Status(context.Background(), "alice")
	is.NoErr(err)
	is.Equal(e.Status, presence.StatusOffline)         // the tracker agrees
	is.True(e.LastSeen.Equal(t0.Add(5 * time.Second))) // and keeps lastSeen
}

func TestNonCoMemberGetsNothing(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	node, _, _ := startNode(t, clk, nil, &presence.Options{Rooms: rooms{"r1": {alice, bob}, "r2": {carol}}})
	b, _ := connect(t, node, bob)
	c, snap := connect(t, node, carol)
	is.Equal(len(snap.Users), 0) // carol shares no room with anyone
	a, _ := connect(t, node, alice)
	is.Equal(expectPresence(t, b).Status, "online") // the co-member hears of alice
	a.Close(signaling.StatusNormalClosure)
	is.Equal(expectPresence(t, b).Status, "offline") // both ways
	c.ExpectQuiet("presence")                        // carol hears nothing
}

func TestDroppedSessionGrace(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	node, _, hooks := startNode(t, clk, &signaling.NodeOptions{ResumeWindow: 60 * time.Second}, &presence.Options{Rooms: rooms{"r1": {alice, bob}}})
	b, _ := connect(t, node, bob)

	t.Run("window passes", func(t *testing.T) {
		is := is.New(t)
		a, _ := connect(t, node, alice)
		is.Equal(expectPresence(t, b).Status, "online") // alice came online
		start := clk.Now()
		a.Close(signaling.StatusGoingAway)
		hooks.wait(t, "dropped alice")
		b.ExpectQuiet("presence") // a dropped session keeps alice online
		clk.Advance(59 * time.Second)
		b.ExpectQuiet("presence") // still within the resume window
		clk.Advance(time.Second)
		hooks.wait(t, "gone alice")
		p := expectPresence(t, b)
		is.Equal(p.Status, "offline")                       // offline once the window ended
		is.Equal(p.LastSeen, ms(start.Add(60*time.Second))) // seen last when it ended
	})

	t.Run("resume within the window", func(t *testing.T) {
		is := is.New(t)
		a := signalingtest.Connect(t, node, alice, nil)
		var info struct {
			ResumeToken string `json:"resumeToken"`
		}
		is.NoErr(a.Expect("session", wait).Bind(&info)) // the session frame
		a.Expect("presence_snapshot", wait)
		is.Equal(expectPresence(t, b).Status, "online") // alice came online
		a.Close(signaling.StatusGoingAway)
		hooks.wait(t, "dropped alice")
		clk.Advance(30 * time.Second)
		a2 := signalingtest.Connect(t, node, alice, &signaling.SessionOptions{ResumeToken: info.ResumeToken, LastSeq: a.LastSeq()})
		a2.Expect("resumed", wait)
		hooks.wait(t, "resumed alice")
		clk.Advance(61 * time.Second)
		b.ExpectQuiet("presence") // a resume shows co-members nothing
		a2.Close(signaling.StatusNormalClosure)
		is.Equal(expectPresence(t, b).Status, "offline") // until the resumed session ends
	})
}

func TestAway(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	node, tr, _ := startNode(t, clk, nil, &presence.Options{Rooms: rooms{"r1": {alice, bob}}})
	b, _ := connect(t, node, bob)
	a, _ := connect(t, node, alice)
	expectPresence(t, b)

	a.Send("presence", map[string]string{"status": "away"})
	p := expectPresence(t, b)
	is.Equal(p.User.ID, "alice") // about alice
	is.Equal(p.Status, "away")   // her chosen status

	a.Send("presence", map[string]string{"status": "away"})
	a.Sync(wait)              // alice's request is handled
	b.ExpectQuiet("presence") // no change, no event

	for _, bad := range []string{`{"status":"busy"}`, `{"status":"offline"}`, `{"status":5}`, `{}`, `null`} {
		a.SendRaw([]byte(`{"event":"presence","ref":"r","data":` + bad + `}`))
		code, f := a.ExpectError(wait)
		is.Equal(code, signaling.CodeBadRequest) // an invalid status is a bad request
		is.Equal(f.Ref, "r")                     // echoing ref
	}

	a2, _ := connect(t, node, alice)
	b.ExpectQuiet("presence") // a new tab keeps the chosen status
	e, err := tr.Status(context.Background(), "alice")
	is.NoErr(err)
	is.Equal(e.Status, presence.StatusAway) // still away

	a2.Send("presence", map[string]string{"status": "online"})
	is.Equal(expectPresence(t, b).Status, "online") // any tab may change it back

	a.Send("presence", map[string]string{"status": "away"})
	is.Equal(expectPresence(t, b).Status, "away") // away again
	a.Close(signaling.StatusNormalClosure)
	a2.Close(signaling.StatusNormalClosure)
	is.Equal(expectPresence(t, b).Status, "offline") // the choice ends with the sessions
	connect(t, node, alice)
	is.Equal(expectPresence(t, b).Status, "online") // and a new session starts online
}

func TestSnapshotAtSessionStart(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	rs := rooms{
		"r1": {bob, alice, carol},
		"r2": {bob, dave, erin, alice},
		"r3": {frank, alice},
	}
	node, _, hooks := startNode(t, clk, nil, &presence.Options{Rooms: rs})
	connect(t, node, alice)
	c, _ := connect(t, node, carol)
	c.SendRef("presence", map[string]string{"status": "away"}, "s")
	c.SendRef("ping", map[string]string{}, "sync")
	c.Expect("pong", wait) // events of a session are handled in order: carol is away now
	d, _ := connect(t, node, dave)
	connect(t, node, frank)
	clk.Advance(time.Minute)
	d.Close(signaling.StatusNormalClosure)
	hooks.wait(t, "gone dave")

	b := signalingtest.Connect(t, node, bob, nil)
	is.Equal(b.Next(wait).Event, "session") // the session frame comes first
	f := b.Next(wait)
	is.Equal(f.Event, "presence_snapshot") // then the snapshot
	var snap wireSnapshot
	is.NoErr(f.Bind(&snap))
	got := make([]string, len(snap.Users))
	for i, u := range snap.Users {
		got[i] = fmt.Sprintf("%s(%s) %s %s", u.User.ID, u.User.Username, u.Status, u.LastSeen)
	}
	is.Equal(strings.Join(got, "; "), strings.Join([]string{
		"alice(Alice) online ",
		"carol(Carol) away ",
		"dave(Dave) offline " + ms(t0.Add(time.Minute)),
		"erin(Erin) offline ",
	}, "; ")) // co-members once each, by id, without bob and frank, with their statuses
	is.True(!strings.Contains(string(f.Raw), `"lastSeen":""`)) // absent lastSeen is omitted
}

func TestGetPresence(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	rs := rooms{
		"r1": {bob, alice},
		"r2": {bob, carol, dave},
		"r3": {erin},
	}
	node, _, _ := startNode(t, clk, nil, &presence.Options{Rooms: rs})
	connect(t, node, carol)
	b, _ := connect(t, node, bob)

	ids := func(s wireSnapshot) string {
		var out []string
		for _, u := range s.Users {
			out = append(out, u.User.ID+" "+u.Status)
		}
		return strings.Join(out, ", ")
	}

	t.Run("one room", func(t *testing.T) {
		is := is.New(t)
		b.SendRef("get_presence", map[string]string{"roomId": "r2"}, "q1")
		f := b.Expect("presence_snapshot", wait)
		is.Equal(f.Ref, "q1") // the reply echoes ref
		var s wireSnapshot
		is.NoErr(f.Bind(&s))
		is.Equal(ids(s), "carol online, dave offline") // that room's other members
	})

	t.Run("all co-members", func(t *testing.T) {
		is := is.New(t)
		for _, frame := range []string{
			`{"event":"get_presence","ref":"q2"}`,
			`{"event":"get_presence","ref":"q2","data":{}}`,
			`{"event":"get_presence","ref":"q2","data":{"roomId":""}}`,
		} {
			b.SendRaw([]byte(frame))
			f := b.Expect("presence_snapshot", wait)
			is.Equal(f.Ref, "q2") // the reply echoes ref
			var s wireSnapshot
			is.NoErr(f.Bind(&s))
			is.Equal(ids(s), "alice offline, carol online, dave offline") // every co-member, without a roomId
		}
	})

	t.Run("not a member", func(t *testing.T) {
		is := is.New(t)
		for _, room := range []string{"r3", "nowhere"} {
			b.SendRef("get_presence", map[string]string{"roomId": room}, "q3")
			code, f := b.ExpectError(wait)
			is.Equal(code, signaling.CodeForbidden) // only members may look
			is.Equal(f.Ref, "q3")                   // echoing ref
		}
	})

	t.Run("bad roomId", func(t *testing.T) {
		is := is.New(t)
		b.SendRaw([]byte(`{"event":"get_presence","data":{"roomId":7}}`))
		code, _ := b.ExpectError(wait)
		is.Equal(code, signaling.CodeBadRequest) // roomId must be a string
	})
	_ = is
}

func TestOneEventPerSharedRoom(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	node, _, hooks := startNode(t, clk, nil, &presence.Options{Rooms: rooms{"r1": {alice, bob}, "r2": {bob, alice}}})
	b, snap := connect(t, node, bob)
	is.Equal(len(snap.Users), 1) // alice listed once in the snapshot
	a, _ := connect(t, node, alice)
	is.Equal(expectPresence(t, b).Status, "online") // one event per shared room: r1
	is.Equal(expectPresence(t, b).Status, "online") // and r2, the same content
	b.ExpectQuiet("presence")                       // and no more
	a.Close(signaling.StatusNormalClosure)
	is.Equal(expectPresence(t, b).Status, "offline") // r1
	is.Equal(expectPresence(t, b).Status, "offline") // r2
	hooks.wait(t, "gone alice")
	b.ExpectQuiet("presence") // and no more
}

func TestOnlineAndStatus(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	node, tr, _ := startNode(t, clk, nil, &presence.Options{Rooms: rooms{}}) // nobody shares a room
	a, snap := connect(t, node, alice)
	is.Equal(len(snap.Users), 0) // without co-members the snapshot is empty
	c, _ := connect(t, node, carol)
	c.Send("presence", map[string]string{"status": "away"})
	c.SendRef("ping", map[string]string{}, "sync")
	c.Expect("pong", wait)
	ctx := context.Background()
	online, err := tr.Online(ctx, []string{"bob", "carol", "alice"})
	is.NoErr(err)
	is.Equal(online, []string{"carol", "alice"}) // online or away, in the order asked
	e, err := tr.Status(ctx, "carol")
	is.NoErr(err)
	is.Equal(e, presence.Entry{UserID: "carol", Status: presence.StatusAway}) // carol chose away
	a.SendRef("get_presence", map[string]string{"roomId": "r1"}, "x")
	code, _ := a.ExpectError(wait)
	is.Equal(code, signaling.CodeForbidden) // alice is no member of r1
}

func TestNewRequiresHubAndRooms(t *testing.T) {
	for _, tc := range []struct {
		name string
		hub  signaling.Hub
		opts *presence.Options
		want string
	}{
		{"no hub", nil, &presence.Options{Rooms: rooms{}}, "hub is nil"},
		{"nil options", signaling.NewNode(nil), nil, "Options.Rooms is required"},
		{"no rooms", signaling.NewNode(nil), &presence.Options{}, "Options.Rooms is required"},
		{"no room topic", signaling.NewNode(nil), &presence.Options{Rooms: rooms{}}, "Options.RoomTopic is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			tr, err := presence.New(tc.hub, tc.opts)
			is.True(err != nil)                             // a missing dependency is an error
			is.True(tr == nil)                              // and no Tracker
			is.True(strings.Contains(err.Error(), tc.want)) // that names it
		})
	}
}

// flakyStore fails every call with an unavailable error while fail is set.
type flakyStore struct {
	presence.Store
	fail atomic.Bool
}

var errDown = fmt.Errorf("%w: redis: connection refused", signaling.ErrUnavailable)

func (f *flakyStore) AddSession(ctx context.Context, u, s, n string) (bool, error) {
	if f.fail.Load() {
		return false, errDown
	}
	return f.Store.AddSession(ctx, u, s, n)
}

func (f *flakyStore) RemoveSession(ctx context.Context, u, s string, at time.Time) (bool, error) {
	if f.fail.Load() {
		return false, errDown
	}
	return f.Store.RemoveSession(ctx, u, s, at)
}

func (f *flakyStore) SetStatus(ctx context.Context, u string, st presence.Status) (bool, error) {
	if f.fail.Load() {
		return false, errDown
	}
	return f.Store.SetStatus(ctx, u, st)
}

func (f *flakyStore) Get(ctx context.Context, ids []string) ([]presence.Entry, error) {
	if f.fail.Load() {
		return nil, errDown
	}
	return f.Store.Get(ctx, ids)
}

func (f *flakyStore) Heartbeat(ctx context.Context, n string, until time.Time) (bool, error) {
	if f.fail.Load() {
		return false, errDown
	}
	return f.Store.Heartbeat(ctx, n, until)
}

func (f *flakyStore) Expire(ctx context.Context, now time.Time) ([]presence.Entry, error) {
	if f.fail.Load() {
		return nil, errDown
	}
	return f.Store.Expire(ctx, now)
}

func (f *flakyStore) RemoveNode(ctx context.Context, n string, at time.Time) ([]presence.Entry, error) {
	if f.fail.Load() {
		return nil, errDown
	}
	return f.Store.RemoveNode(ctx, n, at)
}

func TestStoreUnavailable(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	store := &flakyStore{Store: presence.NewMemoryStore(nil)}
	node, _, hooks := startNode(t, clk, nil, &presence.Options{Store: store, Rooms: rooms{"r1": {alice, bob}}})
	b, _ := connect(t, node, bob)

	store.fail.Store(true)
	a := signalingtest.Connect(t, node, alice, nil)
	hooks.wait(t, "connected alice")
	a.ExpectQuiet("presence_snapshot") // no snapshot rather than a wrong one
	b.ExpectQuiet("presence")          // alice could not be recorded yet
	a.SendRef("ping", map[string]string{}, "p")
	a.Expect("pong", wait) // the session works regardless
	a.SendRef("presence", map[string]string{"status": "away"}, "s")
	code, f := a.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // a store failure is unavailable, not internal
	is.Equal(f.Ref, "s")                      // echoing ref
	a.SendRef("get_presence", nil, "g")
	code, _ = a.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // here too

	store.fail.Store(false)
	clk.Advance(5 * time.Second)
	is.Equal(expectPresence(t, b).Status, "online") // the next heartbeat records alice

	store.fail.Store(true)
	goneAt := clk.Now()
	a.Close(signaling.StatusNormalClosure)
	hooks.wait(t, "gone alice")
	b.ExpectQuiet("presence") // the removal failed

	store.fail.Store(false)
	clk.Advance(5 * time.Second)
	p := expectPresence(t, b)
	is.Equal(p.Status, "offline")    // the next heartbeat removes alice
	is.Equal(p.LastSeen, ms(goneAt)) // as of when her session ended
}

// cluster starts two nodes sharing a broker, a store and a clock.
func cluster(t *testing.T, rs rooms, storeA presence.Store, store presence.Store) (clk *clock.Manual, a, b *signaling.Node, ta, tb *presence.Tracker) {
	clk = clock.NewManual(t0)
	broker := signaling.NewMemoryBroker()
	a, ta, _ = startNode(t, clk, &signaling.NodeOptions{ID: "node-a", Broker: broker}, &presence.Options{Store: storeA, Rooms: rs})
	b, tb, _ = startNode(t, clk, &signaling.NodeOptions{ID: "node-b", Broker: broker}, &presence.Options{Store: store, Rooms: rs})
	return clk, a, b, ta, tb
}

func TestTwoNodes(t *testing.T) {
	is := is.New(t)
	store := presence.NewMemoryStore(nil)
	clk := clock.NewManual(t0)
	broker := signaling.NewMemoryBroker()
	rs := rooms{"r1": {alice, bob}}
	na, _, hooksA := startNode(t, clk, &signaling.NodeOptions{ID: "node-a", Broker: broker}, &presence.Options{Store: store, Rooms: rs})
	nb, _, _ := startNode(t, clk, &signaling.NodeOptions{ID: "node-b", Broker: broker}, &presence.Options{Store: store, Rooms: rs})
	b, _ := connect(t, nb, bob)
	a1, _ := connect(t, na, alice)
	is.Equal(expectPresence(t, b).Status, "online") // alice online on node a
	a2, _ := connect(t, nb, alice)
	b.ExpectQuiet("presence") // and on node b too: no change
	a1.Close(signaling.StatusNormalClosure)
	hooksA.wait(t, "gone alice")
	b.ExpectQuiet("presence") // still connected to node b
	a2.Close(signaling.StatusNormalClosure)
	is.Equal(expectPresence(t, b).Status, "offline") // until both sessions end
}

func TestDeadNodeExpires(t *testing.T) {
	is := is.New(t)
	store := presence.NewMemoryStore(nil)
	clk, na, nb, ta, _ := cluster(t, rooms{"r1": {alice, bob}}, store, store)
	b, _ := connect(t, nb, bob)
	connect(t, na, alice)
	is.Equal(expectPresence(t, b).Status, "online") // alice online on node a
	is.NoErr(ta.Close())                            // node a stops heartbeating, as if it died
	clk.Advance(15 * time.Second)
	b.ExpectQuiet("presence") // within its TTL nothing shows
	clk.Advance(15 * time.Second)
	p := expectPresence(t, b)
	is.Equal(p.Status, "offline") // node b expired node a's sessions
	is.Equal(p.User, alice)       // naming alice from the rooms
	dead, err := time.Parse(time.RFC3339, p.LastSeen)
	is.NoErr(err)                                  // lastSeen is RFC 3339
	is.True(!dead.After(t0.Add(25 * time.Second))) // within TTL + heartbeat interval
}

func TestReapedNodeComesBack(t *testing.T) {
	is := is.New(t)
	store := presence.NewMemoryStore(nil)
	flaky := &flakyStore{Store: store}
	clk, na, nb, _, _ := cluster(t, rooms{"r1": {alice, bob}}, flaky, store)
	b, _ := connect(t, nb, bob)
	connect(t, na, alice)
	is.Equal(expectPresence(t, b).Status, "online") // alice online on node a
	flaky.fail.Store(true)                          // node a loses the store
	clk.Advance(30 * time.Second)
	is.Equal(expectPresence(t, b).Status, "offline") // node b expires node a
	flaky.fail.Store(false)
	clk.Advance(5 * time.Second)
	is.Equal(expectPresence(t, b).Status, "online") // node a finds it was reaped and adds alice again
}

// changeLog records the calls of Options.OnChange.
type changeLog struct {
	mu      sync.Mutex
	entries []presence.Entry
	note    chan struct{}
}

func newChangeLog() *changeLog { return &changeLog{note: make(chan struct{})} }

func (l *changeLog) record(_ context.Context, e presence.Entry) {
	l.mu.Lock()
	l.entries = append(l.entries, e)
	close(l.note)
	l.note = make(chan struct{})
	l.mu.Unlock()
}

// next consumes the oldest recorded call, failing the test after wait.
func (l *changeLog) next(t *testing.T) presence.Entry {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		if len(l.entries) > 0 {
			e := l.entries[0]
			l.entries = l.entries[1:]
			l.mu.Unlock()
			return e
		}
		note := l.note
		l.mu.Unlock()
		select {
		case <-note:
		case <-deadline.C:
			t.Fatalf("no OnChange call within %v", wait)
		}
	}
}

// left returns the calls not consumed yet.
func (l *changeLog) left() []presence.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries)
}

func TestOnChange(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	changes := newChangeLog()
	release := make(chan struct{})
	var tr *presence.Tracker
	var seen []presence.Status // what the Tracker tells OnChange, from within the calls
	onChange := func(ctx context.Context, e presence.Entry) {
		if e.UserID == "bob" {
			<-release // the first call is slow
		}
		got, err := tr.Status(ctx, e.UserID) // the Tracker may be called back
		if err == nil {
			seen = append(seen, got.Status) // calls run one at a time
		}
		changes.record(ctx, e)
	}
	node, tr, _ := startNode(t, clk, nil, &presence.Options{Rooms: rooms{"r1": {alice, bob}}, OnChange: onChange})
	t.Cleanup(func() { // before the Tracker's Close, which waits for the calls
		select {
		case <-release:
		default:
			close(release)
		}
	})

	b, _ := connect(t, node, bob) // OnChange(bob online) blocks
	a, _ := connect(t, node, alice)
	is.Equal(expectPresence(t, b).Status, "online") // alice's session starts and is announced meanwhile
	close(release)
	is.Equal(changes.next(t), presence.Entry{UserID: "bob", Status: presence.StatusOnline})   // bob came online first
	is.Equal(changes.next(t), presence.Entry{UserID: "alice", Status: presence.StatusOnline}) // then alice, in order

	a.Send("presence", map[string]string{"status": "away"})
	is.Equal(expectPresence(t, b).Status, "away")                                           // published
	is.Equal(changes.next(t), presence.Entry{UserID: "alice", Status: presence.StatusAway}) // and reported
	a.Send("presence", map[string]string{"status": "away"})
	settleSession(t, a)

	clk.Advance(time.Second)
	a.Close(signaling.StatusNormalClosure)
	is.Equal(expectPresence(t, b).Status, "offline") // published
	e := changes.next(t)
	is.Equal(e.UserID, "alice")                                              // and reported
	is.Equal(e.Status, presence.StatusOffline)                               // as offline
	is.True(e.LastSeen.Equal(t0.Add(time.Second)))                           // with lastSeen
	is.Equal(len(changes.left()), 0)                                         // nothing else: the second away changed nothing
	is.Equal(seen, []presence.Status{"online", "online", "away", "offline"}) // each call finds its change stored
}

// TestOnChangeAdded: a function added with Tracker.OnChange is called with every change, after
// Options.OnChange, in order.
func TestOnChangeAdded(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	calls := make(chan string, 8)
	record := func(who string) func(context.Context, presence.Entry) {
		return func(_ context.Context, e presence.Entry) { calls <- who + " " + e.UserID + " " + string(e.Status) }
	}
	node, tr, _ := startNode(t, clk, nil, &presence.Options{Rooms: rooms{"r1": {alice, bob}}, OnChange: record("option")})
	tr.OnChange(record("added"))
	tr.OnChange(nil) // ignored
	a, _ := connect(t, node, alice)
	a.Close(signaling.StatusNormalClosure)
	var got []string
	for range 4 {
		select {
		case c := <-calls:
			got = append(got, c)
		case <-time.After(wait):
			t.Fatalf("OnChange calls so far: %q", got)
		}
	}
	is.Equal(got, []string{"option alice online", "added alice online", "option alice offline", "added alice offline"}) // both, each change in order
}

// settleSession makes sure the events c sent before were handled: a ping's pong queues behind
// their replies.
func settleSession(t *testing.T, c *signalingtest.Client) {
	t.Helper()
	c.Send("ping", map[string]any{})
	c.Expect("pong", wait)
}

func TestOnChangeDeadNode(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(t0)
	broker := signaling.NewMemoryBroker()
	store := presence.NewMemoryStore(nil)
	rs := rooms{"r1": {alice, bob}}
	ca, cb := newChangeLog(), newChangeLog()
	na, ta, _ := startNode(t, clk, &signaling.NodeOptions{ID: "node-a", Broker: broker}, &presence.Options{Store: store, Rooms: rs, OnChange: ca.record})
	nb, _, _ := startNode(t, clk, &signaling.NodeOptions{ID: "node-b", Broker: broker}, &presence.Options{Store: store, Rooms: rs, OnChange: cb.record})
	b, _ := connect(t, nb, bob)
	is.Equal(cb.next(t), presence.Entry{UserID: "bob", Status: presence.StatusOnline}) // on bob's node
	connect(t, na, alice)
	is.Equal(ca.next(t), presence.Entry{UserID: "alice", Status: presence.StatusOnline}) // on alice's node
	is.Equal(expectPresence(t, b).Status, "online")

	is.NoErr(ta.Close()) // node a stops heartbeating, as if it died
	clk.Advance(30 * time.Second)
	is.Equal(expectPresence(t, b).Status, "offline") // node b expires node a's sessions
	e := cb.next(t)
	is.Equal(e.UserID, "alice")                // and reports it
	is.Equal(e.Status, presence.StatusOffline) // as offline
	is.True(!e.LastSeen.IsZero())              // with lastSeen
	is.Equal(len(ca.left()), 0)                // the dead node reports nothing
	is.Equal(len(cb.left()), 0)                // and node b once
}
