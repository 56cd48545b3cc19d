package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

const wait = 10 * time.Second

// newServer runs the reference server's chat wiring in-process (package main of
// examples/server cannot be imported): a Node, the chat service on a memory store, and the
// WebSocket handler with auth, on a loopback httptest server. It returns the ws:// endpoint.
func newServer(t *testing.T, auth signaling.Authenticator) (string, *signaling.Node) {
	t.Helper()
	node := signaling.NewNode(nil)
	svc, err := chat.New(node, &chat.Options{Store: chat.NewMemoryStore(nil)})
	if err != nil {
		t.Fatal(err)
	}
	wsh, err := ws.Handler(node, &ws.Options{Authenticator: auth})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", wsh)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = node.Shutdown(ctx)
		srv.Close()
		_ = svc.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws", node
}

// stuckStore is a chat store whose appends wait until release is closed (an overloaded
// node's store, held by the test).
type stuckStore struct {
	*chat.MemoryStore
	release chan struct{}
}

func (s stuckStore) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return chat.Message{}, false, ctx.Err()
	}
	return s.MemoryStore.Append(ctx, m)
}

// TestRefusalsAreErrorsNotLosses: messages an overloaded server refuses at once (`unavailable`,
// admission control) are reported as refused and counted as errors, not as lost deliveries.
func TestRefusalsAreErrorsNotLosses(t *testing.T) {
	is := is.New(t)
	node := signaling.NewNode(&signaling.NodeOptions{MaxPendingEvents: 1})
	mem := chat.NewMemoryStore(nil)
	st := stuckStore{MemoryStore: mem, release: make(chan struct{})}
	svc, err := chat.New(node, &chat.Options{Store: st, Membership: mem, CallTimeout: time.Hour})
	is.NoErr(err)
	wsh, err := ws.Handler(node, &ws.Options{Authenticator: signaling.DevAuthenticator{}})
	is.NoErr(err)
	srv := httptest.NewServer(wsh)
	t.Cleanup(func() {
		close(st.release)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = node.Shutdown(ctx)
		srv.Close()
		_ = svc.Close()
	})
	endpoint := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	var out syncBuffer
	err = run(context.Background(), []string{"-url", endpoint, "-clients", "4", "-rooms", "1",
		"-rate", "40", "-duration", "500ms", "-warmup", "0s", "-drain", "100ms"}, noEnv, &out)
	t.Log(out.String())
	is.NoErr(err) // the run completes
	report := out.String()
	f := parseReport(t, report)
	refused := regexp.MustCompile(`(\d+) refused by the server`).FindStringSubmatch(report)
	is.True(refused != nil) // the report counts the refusals
	n, _ := strconv.Atoi(refused[1])
	is.True(n >= f.sent-1)                             // every measured message but the one stuck in the store was refused
	is.True(f.expected <= 4)                           // refused messages are expected nowhere (at most the stuck one's 4)
	is.True(strings.Contains(f.errors, "unavailable")) // and they are errors, by code
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in different goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func noEnv(string) string { return "" }

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// figures are the numbers of a printed report.
type figures struct {
	connected, sent, received, expected int
	ratio, p50, p99, max, min           float64
	errors                              string
}

var (
	reConnected  = regexp.MustCompile(`connected: (\d+)/`)
	reSent       = regexp.MustCompile(`sent: (\d+) messages`)
	reDeliveries = regexp.MustCompile(`deliveries: (\d+) received / (\d+) expected .*delivery ratio ([0-9.]+)`)
	reLatency    = regexp.MustCompile(`p50 ([0-9.]+)ms .*p99 ([0-9.]+)ms .*max ([0-9.]+)ms +\(min ([0-9.]+)ms`)
	reErrors     = regexp.MustCompile(`errors: (.*)`)
)

func parseReport(t *testing.T, out string) figures {
	t.Helper()
	var f figures
	find := func(re *regexp.Regexp) []string {
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in the report:\n%s", re, out)
		}
		return m[1:]
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	atof := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	f.connected = atoi(find(reConnected)[0])
	f.sent = atoi(find(reSent)[0])
	d := find(reDeliveries)
	f.received, f.expected, f.ratio = atoi(d[0]), atoi(d[1]), atof(d[2])
	l := find(reLatency)
	f.p50, f.p99, f.max, f.min = atof(l[0]), atof(l[1]), atof(l[2]), atof(l[3])
	f.errors = find(reErrors)[0]
	return f
}

func TestShortRun(t *testing.T) {
	is := is.New(t)
	endpoint, node := newServer(t, signaling.DevAuthenticator{})
	base := runtime.NumGoroutine()
	var out syncBuffer
	err := run(context.Background(), []string{"-url", endpoint, "-clients", "20", "-rooms", "4",
		"-rate", "100", "-duration", "1s", "-warmup", "200ms"}, noEnv, &out)
	t.Log(out.String())
	is.NoErr(err) // the run completes
	f := parseReport(t, out.String())
	is.Equal(f.connected, 20)                           // every client connected and joined
	is.True(f.sent >= 90 && f.sent <= 101)              // about rate × duration messages in the measured second
	is.Equal(f.expected, f.sent*5)                      // each to the 5 members of its room, the sender included
	is.Equal(f.received, f.expected)                    // every delivery arrived
	is.Equal(f.ratio, 1.0)                              // so the delivery ratio is 1
	is.True(f.min > 0 && f.p50 >= f.min)                // latencies are positive
	is.True(f.p99 >= f.p50 && f.max >= f.p99)           // and ordered
	is.Equal(f.errors, "none")                          // no error of any kind
	is.True(!strings.Contains(out.String(), "warning")) // 5 messages/s per client is under the limit

	// Every client closed with 1000, which ends its session at once, and no goroutine is left.
	waitFor(t, wait, "sessions ended", func() bool { return node.Stats().Sessions == 0 })
	waitFor(t, wait, "goroutines released", func() bool { return runtime.NumGoroutine() <= base })
}

// TestAuthAndCodec runs with minted JWTs against a JWT-only server, and with the json-payload
// codec, whose events carry `payload` instead of `data`.
func TestAuthAndCodec(t *testing.T) {
	const secret = "load-secret"
	tests := []struct {
		name string
		auth signaling.Authenticator
		args []string
	}{
		{"jwt", jwtauth.New([]byte(secret), nil), []string{"-token-secret", secret}},
		{"jwt from env", jwtauth.New([]byte(secret), nil), nil},
		{"json-payload", signaling.DevAuthenticator{}, []string{"-codec", "json-payload"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			endpoint, _ := newServer(t, tc.auth)
			getenv := func(k string) string {
				if k == "HUDDLE_JWT_SECRET" && tc.name == "jwt from env" {
					return secret
				}
				return ""
			}
			var out syncBuffer
			args := append([]string{"-url", endpoint, "-clients", "6", "-rooms", "2", "-rate", "60",
				"-duration", "300ms", "-warmup", "100ms"}, tc.args...)
			err := run(context.Background(), args, getenv, &out)
			t.Log(out.String())
			is.NoErr(err) // the run completes
			f := parseReport(t, out.String())
			is.Equal(f.connected, 6)   // every client authenticated
			is.True(f.sent > 0)        // and sent
			is.Equal(f.ratio, 1.0)     // every delivery was recognised
			is.Equal(f.errors, "none") // without errors
			is.True(f.min > 0)         // with positive latencies
		})
	}
}

func TestRateWarning(t *testing.T) {
	is := is.New(t)
	endpoint, _ := newServer(t, signaling.DevAuthenticator{})
	var out syncBuffer
	// 300 messages/s per client for 1 s: far over 50/s with a burst of 100.
	err := run(context.Background(), []string{"-url", endpoint, "-clients", "2", "-rooms", "1",
		"-rate", "600", "-duration", "1s", "-warmup", "0s", "-drain", "1s"}, noEnv, &out)
	t.Log(out.String())
	is.NoErr(err) // an overloaded run still completes
	report := out.String()
	is.True(strings.Contains(report, "warning: -rate 600 over -clients 2 is 300.0 messages/s per client")) // the plan is flagged
	f := parseReport(t, report)
	is.True(strings.Contains(f.errors, "rate_limited")) // the server's refusals are counted by code
	is.True(f.ratio < 1)                                // refused messages are missing deliveries
}

func TestInterrupt(t *testing.T) {
	is := is.New(t)
	endpoint, node := newServer(t, signaling.DevAuthenticator{})
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-url", endpoint, "-clients", "8", "-rooms", "2", "-rate", "80",
			"-duration", "1m", "-warmup", "100ms"}, noEnv, &out)
	}()
	// 8 joins, then 80 messages/s: past the 100 ms warmup.
	waitFor(t, wait, "measurement started", func() bool { return node.Stats().Events > 40 })
	cancel()
	select {
	case err := <-done:
		is.NoErr(err) // an interrupted run is not a failure
	case <-time.After(wait):
		t.Fatal("run did not stop within 10s of the interrupt")
	}
	t.Log(out.String())
	report := out.String()
	is.True(strings.Contains(report, "interrupted while sending: partial report")) // it says so
	f := parseReport(t, report)
	is.Equal(f.connected, 8)                                         // with what was measured so far
	is.True(f.sent > 0)                                              // before the interrupt
	is.True(strings.Contains(report, "closed: 8 clients with 1000")) // and still closes cleanly
	waitFor(t, wait, "sessions ended", func() bool { return node.Stats().Sessions == 0 })
}

func TestNoServer(t *testing.T) {
	is := is.New(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	srv.Close() // nothing listens there any more
	var out syncBuffer
	err := run(context.Background(), []string{"-url", endpoint, "-clients", "3", "-rooms", "1"}, noEnv, &out)
	is.True(err != nil)                                              // a run without clients fails
	is.True(strings.Contains(out.String(), "connected: 0/3"))        // the report says none connected
	is.True(strings.Contains(out.String(), "client connect_dial 3")) // and why, by kind
}
