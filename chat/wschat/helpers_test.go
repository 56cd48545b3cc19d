package wschat_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

const wait = 5 * time.Second

// server is a Node with the chat service behind ws.Handler on an httptest server; restart
// swaps in a new Node, as a restarted process would be.
type server struct {
	t       *testing.T
	node    *signaling.Node
	handler atomic.Pointer[http.Handler]
	url     string // ws://127.0.0.1:port/ws
}

func startServer(t *testing.T, store *chat.MemoryStore) *server {
	t.Helper()
	s := &server{t: t}
	s.node = s.chatNode(store)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.handler.Load()).ServeHTTP(w, r)
	}))
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	t.Cleanup(srv.Close)
	return s
}

// chatNode builds a Node (with its own resume secret) with chat on store, serves it, and shuts
// the Node it replaces down.
func (s *server) chatNode(store *chat.MemoryStore) *signaling.Node {
	t := s.t
	t.Helper()
	n := signaling.NewNode(nil)
	opts := &chat.Options{}
	if store != nil {
		opts.Store, opts.Membership = store, store
	}
	if _, err := chat.New(n, opts); err != nil {
		t.Fatal(err)
	}
	h, err := ws.Handler(n, &ws.Options{Authenticator: signaling.DevAuthenticator{}})
	if err != nil {
		t.Fatal(err)
	}
	s.handler.Store(&h)
	old := s.node
	s.node = n
	t.Cleanup(func() { shutdown(t, n) })
	if old != nil {
		shutdown(t, old)
	}
	return n
}

// restart replaces the Node by a new one on store: resume tokens of the old one are refused.
func (s *server) restart(store *chat.MemoryStore) { s.chatNode(store) }

func shutdown(t *testing.T, n *signaling.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("node shutdown: %v", err)
	}
}

func connect(t *testing.T, url string, opts *ws.ClientOptions) *ws.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := ws.Connect(ctx, url, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// next returns the next event, failing the test after wait.
func next(t *testing.T, c *ws.Client) ws.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed: %v", c.Err())
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
		return ws.Event{}
	}
}

// expect skips events until one named name arrives.
func expect(t *testing.T, c *ws.Client, name string) ws.Event {
	t.Helper()
	for {
		if ev := next(t, c); ev.Event == name {
			return ev
		}
	}
}

// gate is a dialer for ws.DialOptions.HTTPClient: the first dial goes through, later ones wait
// until the gate opens.
type gate struct {
	dials   atomic.Int32
	open    chan struct{}
	waiting chan struct{} // a dial waits at the gate
}

func newGate(t *testing.T) (*gate, *http.Client) {
	g := &gate{open: make(chan struct{}), waiting: make(chan struct{}, 10)}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if g.dials.Add(1) > 1 {
			g.waiting <- struct{}{}
			select {
			case <-g.open:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return g, &http.Client{Transport: tr}
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
