package ws_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

const wait = 5 * time.Second

// env is a real Node behind ws.Handler on an httptest server (127.0.0.1).
type env struct {
	t    *testing.T
	node *signaling.Node
	srv  *httptest.Server
	// handler serves /ws; tests may swap it (a server restart).
	handler atomic.Pointer[http.Handler]
	url     string // ws://127.0.0.1:port/ws
}

// start runs a Node with the test handlers and its ws.Handler. A nil wopts means dev auth; a
// wopts without Authenticator gets dev auth too, and its Logger defaults to t.Log.
func start(t *testing.T, nopts *signaling.NodeOptions, wopts *ws.Options) *env {
	t.Helper()
	e := &env{t: t}
	e.node = newNode(t, nopts)
	e.setHandler(mustHandler(t, e.node, withTestDefaults(t, wopts)))
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			http.NotFound(w, r)
			return
		}
		(*e.handler.Load()).ServeHTTP(w, r)
	}))
	e.url = "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws"
	t.Cleanup(func() {
		shutdown(t, e.node)
		e.srv.Close()
	})
	return e
}

func (e *env) setHandler(h http.Handler) { e.handler.Store(&h) }

// mustHandler is ws.Handler, failing the test on an error.
func mustHandler(tb testing.TB, srv ws.Server, opts *ws.Options) http.Handler {
	tb.Helper()
	h, err := ws.Handler(srv, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func withTestDefaults(t *testing.T, wopts *ws.Options) *ws.Options {
	var o ws.Options
	if wopts != nil {
		o = *wopts
	}
	if o.Authenticator == nil {
		o.Authenticator = signaling.DevAuthenticator{}
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	return &o
}

// newNode returns a Node with test handlers:
//   - echo: replies `echo` with the same data and ref;
//   - sub {topic}: subscribes the session, replies `subscribed`.
func newNode(t *testing.T, nopts *signaling.NodeOptions) *signaling.Node {
	is := is.New(t)
	var o signaling.NodeOptions
	if nopts != nil {
		o = *nopts
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	n := signaling.NewNode(&o)
	is.NoErr(n.Handle("echo", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		return s.Reply(ctx, e, "echo", e.Raw())
	}))) // the event had no handler yet
	is.NoErr(n.Handle("sub", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		var in struct {
			Topic string `json:"topic"`
		}
		if err := e.Bind(&in); err != nil {
			return err
		}
		if err := n.Subscribe(ctx, s.ID(), in.Topic); err != nil {
			return err
		}
		return s.Reply(ctx, e, "subscribed", in)
	}))) // the event had no handler yet
	return n
}

func shutdown(t *testing.T, n *signaling.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("node shutdown: %v", err)
	}
}

// dial opens a raw connection and wraps it in a signalingtest.Client.
func dial(t *testing.T, url string, opts *ws.DialOptions) (*signalingtest.Client, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := ws.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	codec := signaling.JSON
	if opts != nil && opts.Codec != nil {
		codec = opts.Codec
	}
	return signalingtest.NewClient(t, c, codec), resp
}

// handshake sends a WebSocket upgrade request as plain HTTP and returns the status, headers
// and body of the answer (a 101 connection is closed at once).
func handshake(t *testing.T, e *env, query string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+"/ws"+query, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer resp.Body.Close()
	var body []byte
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ = io.ReadAll(resp.Body)
	}
	return resp.StatusCode, resp.Header, body
}

type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func decodeError(t *testing.T, b []byte) errorBody {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("error body %q is not JSON: %v", b, err)
	}
	return eb
}

// checkLeaks fails the test if, once its cleanups have run, more goroutines are left than when
// it started. Register it first, so that its cleanup runs last.
func checkLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(wait)
		for {
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines, %d at start\n%s", n, base, buf)
				return
			}
			time.Sleep(10 * time.Millisecond) // polling for goroutines to exit, under a deadline
		}
	})
}

// testLogger sends logs to t.Log until the test's cleanups are done.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu      sync.Mutex
	t       *testing.T
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// until waits for a value on ch, failing the test after d.
func until[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no %s within %v", what, d)
		var zero T
		return zero
	}
}
