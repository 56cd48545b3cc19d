package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat/chattest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

const wait = 5 * time.Second

// testServer is examples/server running in-process on a free loopback port.
type testServer struct {
	URL    string // http://127.0.0.1:PORT
	WS     string // ws://127.0.0.1:PORT/ws
	cancel context.CancelFunc
	done   chan error
	out    *lineBuffer
}

// lineBuffer collects what the server prints and lets a test wait for a line.
type lineBuffer struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{}
	part  string
}

func newLineBuffer() *lineBuffer { return &lineBuffer{more: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.part += string(p)
	for {
		i := strings.IndexByte(b.part, '\n')
		if i < 0 {
			break
		}
		b.lines = append(b.lines, b.part[:i])
		b.part = b.part[i+1:]
	}
	close(b.more)
	b.more = make(chan struct{})
	return len(p), nil
}

// waitFor returns the first submatch of re in a printed line, waiting up to d.
func (b *lineBuffer) waitFor(t testing.TB, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		b.mu.Lock()
		for _, l := range b.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				b.mu.Unlock()
				return m[len(m)-1]
			}
		}
		more := b.more
		b.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no line matching %s within %v; got:\n%s", re, d, strings.Join(b.lines, "\n"))
		}
	}
}

var listenLine = regexp.MustCompile(`listening on http://(\S+)`)

// startServer runs run() with args (plus -addr 127.0.0.1:0 unless given) until the test ends.
func startServer(t testing.TB, args ...string) *testServer {
	t.Helper()
	if !strings.Contains(strings.Join(args, " "), "-addr") {
		args = append([]string{"-addr", "127.0.0.1:0"}, args...)
	}
	if !strings.Contains(strings.Join(args, " "), "-log-level") {
		args = append([]string{"-log-level", "error"}, args...)
	}
	if !slices.Contains(args, "-data") && !slices.Contains(args, "-redis") {
		args = append([]string{"-data", "memory"}, args...) // never a huddle.db in the package
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{cancel: cancel, done: make(chan error, 1), out: newLineBuffer()}
	go func() { ts.done <- run(ctx, args, func(string) string { return "" }, ts.out) }()
	addr := ts.out.waitFor(t, listenLine, wait)
	ts.URL, ts.WS = "http://"+addr, "ws://"+addr+"/ws"
	t.Cleanup(func() { _ = ts.stop(t) })
	return ts
}

// stop cancels the server's context and waits for run to return.
func (ts *testServer) stop(t testing.TB) error {
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err // later calls see the same result
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop within 15s")
		return nil
	}
}

// dial connects a test client for u over a real WebSocket.
func (ts *testServer) dial(t *testing.T, u signaling.User, query string) *signalingtest.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	url := fmt.Sprintf("%s?user=%s&name=%s%s", ts.WS, u.ID, u.Username, query)
	conn, _, err := ws.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := signalingtest.NewClient(t, conn, signaling.JSON)
	// Dial returns at the upgrade, while the server starts the session: wait for it to have
	// started (its hooks run, its topics subscribed), so that what others do next reaches it
	// live. The frames it was sent stay queued.
	c.Sync(wait)
	return c
}

func TestConfigRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no auth", nil, nil, "no authentication configured"},
		{"dev auth on all interfaces", []string{"-dev-auth", "-addr", ":8080"}, nil, "only listens on loopback"},
		{"dev auth on a public address via env", []string{"-dev-auth"}, map[string]string{"HUDDLE_ADDR": "0.0.0.0:8080"}, "only listens on loopback"},
		{"bad codec", []string{"-dev-auth", "-codec", "xml"}, nil, "want json or json-payload"},
		{"bad host policy", []string{"-dev-auth", "-host-policy", "vote"}, nil, "want end, transfer or continue"},
		{"bad env value", []string{"-dev-auth"}, map[string]string{"HUDDLE_HOST_GRACE": "soon"}, "HUDDLE_HOST_GRACE"},
		{"bad duration", []string{"-dev-auth", "-resume-window", "5"}, nil, `invalid value "5" for flag -resume-window: not a duration: write a number and a unit, such as 90s`},
		{"bad duration in the twin", []string{"-dev-auth"}, map[string]string{"HUDDLE_RESUME_WINDOW": "5"}, `HUDDLE_RESUME_WINDOW="5" (the environment twin of -resume-window): not a duration`},
		{"bad boolean", []string{"-dev-auth=yes"}, nil, `invalid boolean value "yes" for -dev-auth: not a boolean: write true or false`},
		{"bad boolean in the twin", nil, map[string]string{"HUDDLE_DEV_AUTH": "yes"}, `HUDDLE_DEV_AUTH="yes" (the environment twin of -dev-auth): not a boolean`},
		{"short JWT secret", []string{"-jwt-secret", "s3cret"}, nil, "-jwt-secret is 6 bytes: it signs every token, so it must be at least 32 bytes"},
		{"short JWT secret in the twin", nil, map[string]string{"HUDDLE_JWT_SECRET": "s3cret"}, "at least 32 bytes"},
		{"redis without a scheme", []string{"-dev-auth", "-redis", "localhost:6379"}, nil, `-redis "localhost:6379" has no scheme: write redis://localhost:6379`},
		{"print-token without a secret", []string{"-dev-auth", "-print-token", "alice"}, nil, "-print-token signs a JWT with -jwt-secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			getenv := func(k string) string { return tc.env[k] }
			err := run(context.Background(), tc.args, getenv, io.Discard)
			is.True(err != nil)                                           // the server refuses to start
			is.True(strings.Contains(err.Error(), tc.want))               // with a message that says why
			is.True(!strings.Contains(err.Error(), "parse error"))        // in its own words, not flag's
			is.True(!strings.Contains(err.Error(), "invalid URL scheme")) // nor go-redis's
		})
	}
}

// TestShortSecretWithDevAuth: -dev-auth is for development, where a short -jwt-secret is fine.
func TestShortSecretWithDevAuth(t *testing.T) {
	is := is.New(t)
	_, err := parseConfig([]string{"-dev-auth", "-jwt-secret", "s3cret"}, func(string) string { return "" }, io.Discard)
	is.NoErr(err) // accepted
}

// TestHelp: -h prints the flags, -print-token among them, and is no error for main (exit 0).
func TestHelp(t *testing.T) {
	is := is.New(t)
	var out strings.Builder
	err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out)
	is.True(errors.Is(err, errHelp))                             // main exits 0 on it
	is.True(strings.Contains(out.String(), "-print-token"))      // the usage lists the flags
	is.True(strings.Contains(out.String(), "HUDDLE_JWT_SECRET")) // and says they have twins
}

// TestPrintToken: -print-token prints a JWT the same server (same -jwt-secret) accepts for that
// user, and exits without serving.
func TestPrintToken(t *testing.T) {
	is := is.New(t)
	var out strings.Builder
	is.NoErr(run(context.Background(), []string{"-jwt-secret", testSecret, "-print-token", "alice"}, func(string) string { return "" }, &out)) // printed
	tok := strings.TrimSpace(out.String())
	is.Equal(strings.Count(tok, "."), 2) // one JWT, alone on its line

	ts := startServer(t, "-jwt-secret", testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, _, err := ws.Dial(ctx, ts.WS+"?token="+tok, nil)
	is.NoErr(err) // accepted
	c := signalingtest.NewClient(t, conn, signaling.JSON)
	var s struct{ User signaling.User }
	is.NoErr(c.Expect("session", wait).Bind(&s))
	is.Equal(s.User, signaling.User{ID: "alice", Username: "alice"}) // as alice
}

func TestEnvTwins(t *testing.T) {
	is := is.New(t)
	env := map[string]string{"HUDDLE_JWT_SECRET": testSecret, "HUDDLE_MAX_PARTICIPANTS": "4", "HUDDLE_CODEC": "json-payload"}
	cfg, err := parseConfig([]string{"-codec", "json"}, func(k string) string { return env[k] }, io.Discard)
	is.NoErr(err)
	is.Equal(cfg.jwtSecret, testSecret)                                // env fills an unset flag
	is.Equal(cfg.maxParticipants, 4)                                   // of any type
	is.Equal(cfg.codec, "json")                                        // a flag on the command line wins over its env twin
	is.Equal(envName("dev-auth-anywhere"), "HUDDLE_DEV_AUTH_ANYWHERE") // the naming rule
}

func TestHTTPEndpoints(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, "-dev-auth")
	for _, path := range []string{"/healthz", "/config.json", "/metrics", "/", "/huddle-client.js", "/client/index.js", "/app/main.js"} {
		res, err := http.Get(ts.URL + path)
		is.NoErr(err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		is.Equal(res.StatusCode, http.StatusOK) // every endpoint answers
		is.True(len(body) > 0)                  // with a body
	}
	res, err := http.Get(ts.URL + "/ws") // no credentials
	is.NoErr(err)
	res.Body.Close()
	is.Equal(res.StatusCode, http.StatusUnauthorized) // 401 before any upgrade
}

// TestChatOverWebSocket runs the same chat scenario as package chat's tests over the in-memory
// pipe, here over a real WebSocket through the reference server: the Hub is transport-agnostic.
func TestChatOverWebSocket(t *testing.T) {
	ts := startServer(t, "-dev-auth")
	chattest.Scenario(t, func(t *testing.T, u signaling.User) *signalingtest.Client {
		return ts.dial(t, u, "")
	})
}

// TestShutdownIn process: every client gets 1012, run returns, and no goroutine is left.
func TestShutdownInProcess(t *testing.T) {
	is := is.New(t)
	base := runtime.NumGoroutine()
	ts := startServer(t, "-dev-auth")
	var clients []*signalingtest.Client
	for _, id := range []string{"ann", "ben", "cat"} {
		c := ts.dial(t, signaling.User{ID: id, Username: id}, "")
		c.Expect("session", wait)
		clients = append(clients, c)
	}
	is.NoErr(ts.stop(t)) // a clean shutdown
	for _, c := range clients {
		is.Equal(c.ExpectClosed(wait), signaling.StatusServiceRestart) // 1012: reconnect and resume
	}
	waitGoroutines(t, base)
}

func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d > %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond) // polling a counter, bounded by the deadline
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

func regexpQuote(s string) *regexp.Regexp { return regexp.MustCompile(regexp.QuoteMeta(s) + "()") }
