package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/huddle-go/huddle/clock"
	"golang.org/x/crypto/bcrypt"
)

// wait bounds every wait for something that must happen; generous, since CI machines are busy
// (a passing test never waits it out).
const wait = 20 * time.Second

// logBuffer collects the server's logs for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is the stream-chat backend on a loopback port, with its logs at debug level.
type testServer struct {
	*server
	URL  string
	WS   string
	logs *logBuffer
	// stop shuts the server down as the command does (sockets get 1012); idempotent.
	stop func()
}

// startServer runs the server with flags args (a fresh SQLite file unless -data or -postgres is
// given) until the test ends.
func startServer(t testing.TB, args []string, c clock.Clock) *testServer {
	t.Helper()
	if !strings.Contains(strings.Join(args, " "), "-data") {
		args = append([]string{"-data", filepath.Join(t.TempDir(), "streamchat.db")}, args...)
	}
	cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.bcryptCost = bcrypt.MinCost
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := newServer(context.Background(), cfg, deps{log: log, clock: c})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.handler)
	ts := &testServer{server: srv, URL: hs.URL, WS: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", logs: logs}
	ts.stop = sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = srv.huddle.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
		srv.close()
	})
	t.Cleanup(ts.stop)
	return ts
}

// call makes an HTTP request the way the app's HttpClient does, and decodes a JSON answer.
func (ts *testServer) call(t testing.TB, method, path, token string, body any, hdr ...string) (int, json.RawMessage) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && !json.Valid(b) {
		t.Fatalf("%s %s: %d with a body that is not JSON: %q", method, path, res.StatusCode, b)
	}
	return res.StatusCode, b
}

// decode unmarshals raw into v or fails the test.
func decode[T any](t testing.TB, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// account is a signed-in user of the app.
type account struct {
	ID, Username, Password string
	Access, Refresh        string
}

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// register signs a user up like the app's register page and reads its id like the app does
// (GET /api/auth/userDetails, user id = sub).
func (ts *testServer) register(t testing.TB, name string) *account {
	t.Helper()
	a := &account{Username: name, Password: "pw-" + name + "-secret"}
	code, body := ts.call(t, "POST", "/api/auth/register", "", map[string]string{"username": name, "password": a.Password})
	if code != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, code, body)
	}
	p := decode[tokenPair](t, body)
	a.Access, a.Refresh = p.AccessToken, p.RefreshToken
	if a.Access == "" || a.Refresh == "" {
		t.Fatalf("register %s: tokens missing in %s", name, body)
	}
	code, body = ts.call(t, "GET", "/api/auth/userDetails", a.Access, nil)
	if code != http.StatusOK {
		t.Fatalf("userDetails %s: %d %s", name, code, body)
	}
	d := decode[struct {
		Sub      string `json:"sub"`
		Username string `json:"username"`
		Iat, Exp int64
	}](t, body)
	if d.Sub == "" || d.Username != name || d.Iat == 0 || d.Exp <= d.Iat {
		t.Fatalf("userDetails %s: %s", name, body)
	}
	a.ID = d.Sub
	return a
}

// frame is one server frame as the app reads it: event and payload.
type frame struct {
	Event   string
	Payload json.RawMessage
}

// appSocket is a WebSocket opened like the app opens it: `new WebSocket('ws?token=…')`, no
// subprotocol, frames {"event","data"} out and {"event","payload"} in.
type appSocket struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	frames chan frame
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	errs   []frame // `error` frames seen while waiting for something else
	err    error   // why reading ended; set before done is closed
	// pending are the frames that arrived before presence_snapshot, read by connect.
	pending []frame
}

func (ts *testServer) connect(t *testing.T, a *account) *appSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, ts.WS+"?token="+a.Access, nil)
	if err != nil {
		t.Fatalf("%s: dial: %v (%v)", a.Username, err, res)
	}
	conn.SetReadLimit(1 << 20)
	rctx, rcancel := context.WithCancel(context.Background())
	s := &appSocket{t: t, name: a.Username, conn: conn, frames: make(chan frame, 256), cancel: rcancel, done: make(chan struct{})}
	go s.read(rctx)
	t.Cleanup(func() { s.close(websocket.StatusNormalClosure) })
	// The session's start is over at presence_snapshot, the last hook's frame: the session is
	// subscribed to its rooms and counted online. What came before is kept for expect.
	deadline := time.After(wait)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				t.Fatalf("%s: socket closed at session start", a.Username)
			}
			if f.Event == "presence_snapshot" {
				return s
			}
			s.pending = append(s.pending, f)
		case <-deadline:
			t.Fatalf("%s: no presence_snapshot within %v", a.Username, wait)
		}
	}
}

// next returns the next frame: a pending one, or one from the socket within d.
func (s *appSocket) next(deadline <-chan time.Time) (frame, bool) {
	if len(s.pending) > 0 {
		f := s.pending[0]
		s.pending = s.pending[1:]
		return f, true
	}
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatalf("%s: socket closed", s.name)
		}
		return f, true
	case <-deadline:
		return frame{}, false
	}
}

// read checks every frame's envelope against the original's: an object with a string `event` and
// a `payload`, and no `data` key.
func (s *appSocket) read(ctx context.Context) {
	defer close(s.done)
	defer close(s.frames)
	for {
		_, b, err := s.conn.Read(ctx)
		if err != nil {
			s.err = err
			return
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(b, &env); err != nil {
			s.t.Errorf("%s: frame is not a JSON object: %s", s.name, b)
			continue
		}
		var f frame
		if err := json.Unmarshal(env["event"], &f.Event); err != nil || f.Event == "" {
			s.t.Errorf("%s: frame without a string event: %s", s.name, b)
		}
		p, ok := env["payload"]
		if !ok {
			s.t.Errorf("%s: frame without payload: %s", s.name, b)
		}
		if _, ok := env["data"]; ok {
			s.t.Errorf("%s: frame with a data key (the app reads payload): %s", s.name, b)
		}
		f.Payload = p
		s.frames <- f
	}
}

// close ends the socket like a browser tab going away (1001 on reload) or a logout (1000).
func (s *appSocket) close(code websocket.StatusCode) {
	_ = s.conn.Close(code, "")
	s.cancel()
	<-s.done
}

// send writes a frame as the app's emit() does.
func (s *appSocket) send(event string, data any) {
	s.t.Helper()
	b, err := json.Marshal(map[string]any{"event": event, "data": data})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageText, b); err != nil {
		s.t.Fatalf("%s: write %s: %v", s.name, event, err)
	}
}

// appIgnores are the Huddle events the app has no handler for; expect skips them.
var appIgnores = map[string]bool{
	"session": true, "presence_snapshot": true, "presence": true, "member_joined": true,
	"meeting_started": true, "meeting_joined": true, "typing": true, "pong": true,
}

// expect returns the next frame of the event, within wait. It skips the frames the app ignores
// and records `error` frames; any other frame first fails the test.
func (s *appSocket) expect(event string) frame {
	s.t.Helper()
	deadline := time.After(wait)
	for {
		f, ok := s.next(deadline)
		if !ok {
			s.t.Fatalf("%s: no %s within %v", s.name, event, wait)
		}
		if f.Event == event {
			return f
		}
		if f.Event == "error" {
			s.mu.Lock()
			s.errs = append(s.errs, f)
			s.mu.Unlock()
			continue
		}
		if !appIgnores[f.Event] {
			s.t.Fatalf("%s: got %s %s while waiting for %s", s.name, f.Event, f.Payload, event)
		}
	}
}

// sync is a barrier: it sends `ping` and returns the app-visible frames that arrived before the
// `pong`. Frames of one session are written in order, so anything caused earlier is in there.
func (s *appSocket) sync() []frame {
	s.t.Helper()
	s.send("ping", map[string]any{})
	var got []frame
	deadline := time.After(wait)
	for {
		f, ok := s.next(deadline)
		if !ok {
			s.t.Fatalf("%s: no pong within %v", s.name, wait)
		}
		switch {
		case f.Event == "pong":
			return got
		case f.Event == "error":
			s.mu.Lock()
			s.errs = append(s.errs, f)
			s.mu.Unlock()
		case !appIgnores[f.Event]:
			got = append(got, f)
		}
	}
}

// quiet fails the test if an app-visible frame arrives before the barrier.
func (s *appSocket) quiet(why string) {
	s.t.Helper()
	if got := s.sync(); len(got) > 0 {
		s.t.Fatalf("%s: %s, but got %s %s", s.name, why, got[0].Event, got[0].Payload)
	}
}

// takeErrors returns and forgets the `error` frames seen so far.
func (s *appSocket) takeErrors() []frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.errs
	s.errs = nil
	return e
}
