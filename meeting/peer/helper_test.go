package peer_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

var debugLogs = flag.Bool("peer.debug", false, "log the peers' and the server's debug messages")

// testLogger sends logs to t.Logf until the test's cleanups are done.
func testLogger(t testing.TB, name string) *slog.Logger {
	level := slog.LevelInfo
	if *debugLogs {
		level = slog.LevelDebug
	}
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("who", name)
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// openRooms is a meeting.Members where every user belongs to every room.
type openRooms struct {
	rooms []string

	mu    sync.Mutex
	users []signaling.User
}

func (o *openRooms) IsMember(context.Context, string, string) (bool, error) { return true, nil }

func (o *openRooms) Members(context.Context, string) ([]signaling.User, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.users), nil
}

func (o *openRooms) Rooms(context.Context, string) ([]string, error) { return o.rooms, nil }

func (o *openRooms) add(u signaling.User) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !slices.Contains(o.users, u) {
		o.users = append(o.users, u)
	}
}

// testServer is a real Huddle server (Node + meeting service + WebSocket handler) on
// 127.0.0.1. Without the chat package nobody subscribes sessions to room topics, so a session
// hook subscribes every session to the rooms the server was made for; room-wide events
// (meeting_ended, meeting_invitation) then arrive.
type testServer struct {
	URL  string // ws://127.0.0.1:port/ws
	node *signaling.Node
}

type serverOptions struct {
	node    signaling.NodeOptions
	meeting meeting.Options
}

func newTestServer(t testing.TB, so *serverOptions, rooms ...string) *testServer {
	t.Helper()
	var o serverOptions
	if so != nil {
		o = *so
	}
	members := &openRooms{rooms: rooms}
	o.node.Logger = testLogger(t, "server")
	node := signaling.NewNode(&o.node)
	node.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev != signaling.SessionConnected {
			return
		}
		members.add(s.User())
		for _, r := range rooms {
			if err := node.Subscribe(ctx, s.ID(), chat.RoomTopic(r)); err != nil {
				t.Errorf("subscribe %s to %s: %v", s.ID(), r, err)
			}
		}
	})
	o.meeting.Members, o.meeting.RoomTopic = members, chat.RoomTopic
	o.meeting.Logger = testLogger(t, "meeting")
	svc, err := meeting.New(node, &o.meeting)
	if err != nil {
		t.Fatal(err)
	}
	wsh, err := ws.Handler(node, &ws.Options{Authenticator: signaling.DevAuthenticator{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", wsh)
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
		srv.Close()
		svc.Close()
	})
	return &testServer{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", node: node}
}

// userURL is the dev-auth URL of one user.
func (s *testServer) userURL(id string) string {
	return s.URL + "?" + url.Values{"user": {id}, "name": {strings.ToUpper(id[:1]) + id[1:]}}.Encode()
}

// testPeer is a Peer with everything it saw recorded.
type testPeer struct {
	*peer.Peer
	id string

	mu      sync.Mutex
	events  []ws.Event
	changed chan struct{}
	data    chan peer.Message
}

// testICE are the ICE settings of every test peer: loopback only, with timeouts short enough
// to notice a dead connection within a test yet long enough for two busy cores under -race.
func testICE(o *peer.Options) {
	o.LoopbackOnly = true
	o.ICEDisconnectedTimeout = 3 * time.Second
	o.ICEFailedTimeout = 5 * time.Second
	o.ICEKeepaliveInterval = 500 * time.Millisecond
}

// dialPeer connects user id to s; it is closed when the test ends.
func dialPeer(ctx context.Context, t testing.TB, s *testServer, id string, mod func(*peer.Options)) *testPeer {
	t.Helper()
	is := is.New(t)
	tp := &testPeer{id: id, changed: make(chan struct{}), data: make(chan peer.Message, 256)}
	o := &peer.Options{
		Logger:        testLogger(t, id),
		OnEvent:       tp.record,
		OnStateChange: tp.stateChanged,
		OnData: func(m peer.Message) {
			select {
			case tp.data <- m:
			default:
				t.Errorf("%s: data channel message from %s dropped: test buffer full", id, m.From)
			}
		},
	}
	testICE(o)
	if mod != nil {
		mod(o)
	}
	p, err := peer.Dial(ctx, s.userURL(id), o)
	is.NoErr(err) // dial the test server
	tp.Peer = p
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("%s: close: %v", id, err)
		}
	})
	return tp
}

func (tp *testPeer) record(e ws.Event) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.events = append(tp.events, e)
	close(tp.changed)
	tp.changed = make(chan struct{})
}

// stateChanged is the peer's OnStateChange: it wakes until.
func (tp *testPeer) stateChanged(peer.RemoteState) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	close(tp.changed)
	tp.changed = make(chan struct{})
}

// until waits until cond holds, checking it after every event and connection state change.
func (tp *testPeer) until(ctx context.Context, cond func() bool) error {
	for {
		tp.mu.Lock()
		ch := tp.changed
		tp.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", tp.id, ctx.Err())
		}
	}
}

// eventNames returns the names of the events seen so far.
func (tp *testPeer) eventNames() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	out := make([]string, len(tp.events))
	for i, e := range tp.events {
		out[i] = e.Event
	}
	return out
}

// waitEvent waits for the first event at or after index from that match accepts, and returns
// it with its index.
func (tp *testPeer) waitEvent(ctx context.Context, from int, match func(ws.Event) bool) (ws.Event, int, error) {
	for {
		tp.mu.Lock()
		evs, ch := tp.events, tp.changed
		tp.mu.Unlock()
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ws.Event{}, 0, fmt.Errorf("%s: waiting for an event: %w (saw %v)", tp.id, ctx.Err(), tp.eventNames())
		}
	}
}

// receive waits for the next data channel message.
func (tp *testPeer) receive(ctx context.Context) (peer.Message, error) {
	select {
	case m := <-tp.data:
		return m, nil
	case <-ctx.Done():
		return peer.Message{}, fmt.Errorf("%s: waiting for data: %w", tp.id, ctx.Err())
	}
}

func named(name string) func(ws.Event) bool {
	return func(e ws.Event) bool { return e.Event == name }
}

func field(e ws.Event, key string) string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(e.Data, &m)
	var s string
	_ = json.Unmarshal(m[key], &s)
	return s
}

// ids returns the user ids of peers.
func ids(peers []*testPeer) []string {
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.id
	}
	return out
}

// checkNoLeaks fails the test if goroutines of Pion, this package, the WebSocket code or the
// server outlive it. Call it first, so that its cleanup runs after all the others.
func checkNoLeaks(t testing.TB) {
	t.Cleanup(func() {
		deadline := time.Now().Add(15 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			<-tick.C
		}
	})
}

func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 { // this goroutine
			continue
		}
		for _, mark := range []string{"github.com/pion/", "huddle/meeting/peer.", "huddle/signaling", "huddle/meeting.", "coder/websocket"} {
			if strings.Contains(g, mark) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// startMesh starts a meeting in room with peers[0] as host and joins the others, all at once,
// and waits until every pair is connected. It returns how long that took from the first join.
func startMesh(ctx context.Context, t testing.TB, room string, peers []*testPeer) time.Duration {
	t.Helper()
	is := is.New(t)
	is.NoErr(peers[0].Start(ctx, room)) // the host starts the meeting
	t0 := time.Now()
	errs := make(chan error, len(peers))
	for _, p := range peers[1:] {
		go func() {
			_, err := p.Join(ctx, room)
			errs <- err
		}()
	}
	for range peers[1:] {
		is.NoErr(<-errs) // every participant joins
	}
	all := ids(peers)
	for _, p := range peers {
		go func() { errs <- p.WaitAllConnected(ctx, all...) }()
	}
	for range peers {
		is.NoErr(<-errs) // every pair connects
	}
	return time.Since(t0)
}
