package meeting_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// wait bounds every expectation.
const wait = 2 * time.Second

var (
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
	carol = signaling.User{ID: "carol", Username: "Carol"}
	dave  = signaling.User{ID: "dave", Username: "Dave"} // a member of no room
	erin  = signaling.User{ID: "erin", Username: "Erin"}
)

// epoch is the manual clock's start: a realistic time, so Unix-ms fields are never zero.
var epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// roomMembers is an in-test Members: room id -> members.
type roomMembers struct {
	mu    sync.Mutex
	rooms map[string][]signaling.User
}

func (m *roomMembers) add(roomID string, users ...signaling.User) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rooms == nil {
		m.rooms = map[string][]signaling.User{}
	}
	m.rooms[roomID] = append(m.rooms[roomID], users...)
}

func (m *roomMembers) IsMember(_ context.Context, roomID, userID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.ContainsFunc(m.rooms[roomID], func(u signaling.User) bool { return u.ID == userID }), nil
}

func (m *roomMembers) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.rooms[roomID]), nil
}

func (m *roomMembers) Rooms(_ context.Context, userID string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for r, us := range m.rooms {
		if slices.ContainsFunc(us, func(u signaling.User) bool { return u.ID == userID }) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out, nil
}

var _ meeting.Members = (*roomMembers)(nil)

// onlineSet is an in-test Online.
type onlineSet []string

func (o onlineSet) Online(_ context.Context, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		if slices.Contains(o, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// env is one test's world: a real Node on a manual clock, the meeting service, a memory store,
// and a hook that does what chat does for room topics.
type env struct {
	t       *testing.T
	clock   *clock.Manual
	node    *signaling.Node
	members *roomMembers
	store   *meeting.MemoryStore
	svc     *meeting.Service
	hooks   *hookLog
}

// newEnv starts a world where room "r1" has alice, bob, carol and erin as members, room "r2"
// has alice and bob, and dave belongs to no room. opts may be nil.
func newEnv(t *testing.T, opts *meeting.Options) *env {
	t.Helper()
	e := &env{
		t:       t,
		clock:   clock.NewManual(epoch),
		members: &roomMembers{},
		store:   meeting.NewMemoryStore(nil),
		hooks:   &hookLog{seen: map[hookEvent]int{}, changed: make(chan struct{})},
	}
	e.members.add("r1", alice, bob, carol, erin)
	e.members.add("r2", alice, bob)
	e.node = signaling.NewNode(&signaling.NodeOptions{
		Clock: e.clock,
		ICE:   signaling.ICEConfig{URLs: []string{"stun:stun.example.org:3478"}},
	})
	// What chat does: every session of a member is subscribed to the room topics at its start.
	e.node.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev != signaling.SessionConnected {
			return
		}
		rooms, _ := e.members.Rooms(ctx, s.User().ID)
		for _, r := range rooms {
			if err := e.node.Subscribe(ctx, s.ID(), chat.RoomTopic(r)); err != nil {
				t.Errorf("subscribe %s: %v", r, err)
			}
		}
	})
	var o meeting.Options
	if opts != nil {
		o = *opts
	}
	o.Members, o.RoomTopic = e.members, chat.RoomTopic
	if o.Store == nil {
		o.Store = e.store
	}
	o.Logger = testLogger(t)
	svc, err := meeting.New(e.node, &o)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	// Registered after the service: when it runs, the service's hook has finished.
	e.node.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		e.hooks.record(s.ID(), ev)
	})
	t.Cleanup(func() {
		e.svc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.node.Shutdown(ctx)
	})
	return e
}

type hookEvent struct {
	session string
	ev      signaling.SessionEvent
}

// hookLog counts session events so a test can wait for the hooks of one to have run.
type hookLog struct {
	mu      sync.Mutex
	seen    map[hookEvent]int
	changed chan struct{}
}

func (h *hookLog) record(session string, ev signaling.SessionEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[hookEvent{session, ev}]++
	close(h.changed)
	h.changed = make(chan struct{})
}

// waitEvent waits for (and consumes) one occurrence of ev for the session.
func (e *env) waitEvent(session string, ev signaling.SessionEvent) {
	e.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	key := hookEvent{session, ev}
	for {
		e.hooks.mu.Lock()
		if e.hooks.seen[key] > 0 {
			e.hooks.seen[key]--
			e.hooks.mu.Unlock()
			return
		}
		ch := e.hooks.changed
		e.hooks.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			e.t.Fatalf("no %v hook for session %s within %v", ev, session, wait)
		}
	}
}

// peer is a test client with its session's id and resume token.
type peer struct {
	*signalingtest.Client
	user    signaling.User
	session string
	token   string
	codec   signaling.Codec
}

// connect starts a session for u and waits until its start hooks (catch-up) have run.
func (e *env) connect(u signaling.User) *peer { return e.connectWith(u, nil) }

func (e *env) connectWith(u signaling.User, codec signaling.Codec) *peer {
	e.t.Helper()
	c := signalingtest.Connect(e.t, e.node, u, &signaling.SessionOptions{Codec: codec})
	f := c.Expect("session", wait)
	var info struct {
		SessionID   string `json:"sessionId"`
		ResumeToken string `json:"resumeToken"`
	}
	if err := f.Bind(&info); err != nil {
		e.t.Fatalf("session frame: %v", err)
	}
	e.waitEvent(info.SessionID, signaling.SessionConnected)
	return &peer{Client: c, user: u, session: info.SessionID, token: info.ResumeToken, codec: codec}
}

// drop loses p's connection without a close handshake (a network flicker or a reload) and waits
// for the session's Dropped hooks.
func (e *env) drop(p *peer) {
	e.t.Helper()
	p.Close(signaling.StatusGoingAway)
	e.waitEvent(p.session, signaling.SessionDropped)
}

// hangUp closes p cleanly (the session ends at once) and waits for its Gone hooks.
func (e *env) hangUp(p *peer) {
	e.t.Helper()
	p.Close(signaling.StatusNormalClosure)
	e.waitEvent(p.session, signaling.SessionGone)
}

// resume reconnects a dropped p within its resume window and waits for the Resumed hooks.
func (e *env) resume(p *peer) *peer {
	e.t.Helper()
	c := signalingtest.Connect(e.t, e.node, p.user, &signaling.SessionOptions{Codec: p.codec, ResumeToken: p.token, LastSeq: p.LastSeq()})
	f := c.Expect("session", wait)
	var info struct {
		SessionID string `json:"sessionId"`
		Resumed   bool   `json:"resumed"`
	}
	if err := f.Bind(&info); err != nil || !info.Resumed || info.SessionID != p.session {
		e.t.Fatalf("resume of %s failed: %s", p.session, f.Raw)
	}
	e.waitEvent(p.session, signaling.SessionResumed)
	return &peer{Client: c, user: p.user, session: p.session, token: p.token, codec: p.codec}
}

// settle makes sure every frame already queued for each peer has arrived: a ping's pong queues
// behind them. Call it for the acting peer first, then for the observers.
func settle(t *testing.T, ps ...*peer) {
	t.Helper()
	for _, p := range ps {
		p.Send("ping", map[string]any{})
		p.Expect("pong", wait)
	}
}

// flush settles the peers and discards what they received so far.
func flush(t *testing.T, ps ...*peer) {
	t.Helper()
	settle(t, ps...)
	for _, p := range ps {
		p.Drain()
	}
}

// none asserts, after a barrier, that p got no frame of event.
func none(t *testing.T, p *peer, event string) {
	t.Helper()
	p.ExpectQuiet(event)
}

// expectError waits for an error and returns its code.
func expectError(t *testing.T, p *peer) string {
	t.Helper()
	code, _ := p.ExpectError(wait)
	return code
}

// start makes host start a meeting in roomID and returns meeting_started's data once the
// handler has finished.
func start(t *testing.T, host *peer, roomID string) wireMeeting {
	t.Helper()
	host.Send("start_meeting", map[string]string{"roomId": roomID})
	m := bindWire(t, host.Expect("meeting_started", wait))
	settle(t, host) // the handler has finished: the invitations are out
	return m
}

// join makes p join the meeting of roomID and returns meeting_joined's data once the handler
// has finished.
func join(t *testing.T, p *peer, roomID string) joinedData {
	t.Helper()
	p.Send("join_meeting", map[string]string{"roomId": roomID})
	var j joinedData
	bindTo(t, p.Expect("meeting_joined", wait), &j)
	settle(t, p) // the handler has finished: meeting_user_joined is out
	return j
}

// wireMeeting is the ActiveMeeting object (and room_info_response) as a client decodes it.
type wireMeeting struct {
	RoomID       string                `json:"roomId"`
	Host         signaling.User        `json:"host"`
	Type         string                `json:"type"`
	MeetingLink  string                `json:"meetingLink"`
	Status       string                `json:"status"`
	CreatedAt    int64                 `json:"createdAt"`
	Participants []wireParticipant     `json:"participants"`
	Room         *struct{ ID string }  `json:"room"`
	Locked       bool                  `json:"locked"`
	OnlineUsers  []string              `json:"onlineUsers"`
	ICEServers   []signaling.ICEServer `json:"iceServers"`
}

type wireParticipant struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Audio    bool   `json:"audio"`
	Video    bool   `json:"video"`
	Screen   bool   `json:"screen"`
	Hand     bool   `json:"hand"`
}

type joinedData struct {
	RoomID       string            `json:"roomId"`
	Participants []wireParticipant `json:"participants"`
	Locked       bool              `json:"locked"`
}

type userData struct {
	User   signaling.User `json:"user"`
	RoomID string         `json:"roomId"`
	Rejoin bool           `json:"rejoin"`
}

type endedData struct {
	RoomID string `json:"roomId"`
	Reason string `json:"reason"`
}

func bindTo(t *testing.T, f signalingtest.Frame, v any) {
	t.Helper()
	if err := f.Bind(v); err != nil {
		t.Fatalf("decode %s: %v: %s", f.Event, err, f.Raw)
	}
}

func bindWire(t *testing.T, f signalingtest.Frame) wireMeeting {
	t.Helper()
	var m wireMeeting
	bindTo(t, f, &m)
	return m
}

func ids(ps []wireParticipant) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// keys returns the top-level keys of a frame's data.
func keys(t *testing.T, f signalingtest.Frame) []string {
	t.Helper()
	var m map[string]json.RawMessage
	bindTo(t, f, &m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// stored returns the store's record of a room.
func (e *env) stored(roomID string) meeting.Meeting {
	e.t.Helper()
	is := is.New(e.t)
	m, err := e.store.Get(context.Background(), roomID)
	is.NoErr(err) // the meeting is stored
	return m
}

// gone asserts that the room has no meeting record.
func (e *env) gone(roomID string) bool {
	_, err := e.store.Get(context.Background(), roomID)
	return err != nil
}

// testLogger sends the service's logs to t.Logf while the test runs.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	if !w.done.Load() {
		w.t.Logf("%s", b)
	}
	return len(b), nil
}
