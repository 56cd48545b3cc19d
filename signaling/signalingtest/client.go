package signalingtest

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
)

// Frame is one server frame as a test client received it.
type Frame struct {
	Event string
	Data  json.RawMessage
	Ref   string
	Seq   uint64
	Raw   []byte
}

// Bind decodes the frame's data into v.
func (f Frame) Bind(v any) error { return json.Unmarshal(f.Data, v) }

// Client is a test client over any client-side Conn (a Pipe end, or a WebSocket from ws.Dial).
// It reads in the background; Expect finds an event among the frames received so far or waiting,
// keeping the others for later calls. Its methods fail the test through t.
type Client struct {
	t     testing.TB
	conn  signaling.Conn
	codec signaling.Codec

	mu      sync.Mutex
	cond    chan struct{} // closed and replaced when a frame arrives
	backlog []Frame
	closed  error
	lastSeq uint64

	cancel context.CancelFunc
	done   chan struct{}
}

// Connect runs a session for u on node over a Pipe and returns its client. The session ends when
// the test ends.
func Connect(t testing.TB, node *signaling.Node, u signaling.User, opts *signaling.SessionOptions) *Client {
	t.Helper()
	server, client := Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = node.Serve(context.Background(), server, u, opts)
	}()
	codec := signaling.JSON
	if opts != nil && opts.Codec != nil {
		codec = opts.Codec
	}
	c := NewClient(t, client, codec)
	t.Cleanup(func() {
		c.Close(signaling.StatusNormalClosure)
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Errorf("signalingtest: session of %s did not end within 5s", u.ID)
		}
	})
	return c
}

// NewClient wraps a client-side Conn that speaks codec.
func NewClient(t testing.TB, conn signaling.Conn, codec signaling.Codec) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{t: t, conn: conn, codec: codec, cond: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go c.readLoop(ctx)
	t.Cleanup(func() { c.Close(signaling.StatusNormalClosure) })
	return c
}

func (c *Client) readLoop(ctx context.Context) {
	defer close(c.done)
	for {
		b, err := c.conn.Read(ctx)
		c.mu.Lock()
		if err != nil {
			c.closed = err
		} else {
			f := decodeFrame(b)
			if f.Seq > 0 {
				c.lastSeq = f.Seq
			}
			c.backlog = append(c.backlog, f)
		}
		close(c.cond)
		c.cond = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func decodeFrame(b []byte) Frame {
	var raw struct {
		Event   string          `json:"event"`
		Data    json.RawMessage `json:"data"`
		Payload json.RawMessage `json:"payload"`
		Ref     string          `json:"ref"`
		Seq     uint64          `json:"seq"`
	}
	_ = json.Unmarshal(b, &raw)
	d := raw.Data
	if d == nil {
		d = raw.Payload
	}
	return Frame{Event: raw.Event, Data: d, Ref: raw.Ref, Seq: raw.Seq, Raw: b}
}

// Conn returns the client's connection.
func (c *Client) Conn() signaling.Conn { return c.conn }

// LastSeq returns the highest seq received so far.
func (c *Client) LastSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeq
}

// Send sends an event with data (encoded with the client's codec rules: {"event","data"}).
func (c *Client) Send(event string, data any) { c.SendRef(event, data, "") }

// SendRef sends an event with a ref.
func (c *Client) SendRef(event string, data any, ref string) {
	c.t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		c.t.Fatalf("signalingtest: marshal %s: %v", event, err)
	}
	frame, err := signaling.JSON.Encode(signaling.Envelope{Event: event, Data: json.RawMessage(b), Ref: ref})
	if err != nil {
		c.t.Fatalf("signalingtest: encode %s: %v", event, err)
	}
	c.SendRaw(frame)
}

// SendRaw sends a frame as it is.
func (c *Client) SendRaw(frame []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, frame); err != nil {
		c.t.Fatalf("signalingtest: write: %v", err)
	}
}

// Next returns the next frame in arrival order, whatever its event, failing the test if none
// arrives within d.
func (c *Client) Next(d time.Duration) Frame {
	c.t.Helper()
	f, ok := c.take(func(Frame) bool { return true }, d, true)
	if !ok {
		c.t.Fatalf("signalingtest: no frame within %v", d)
	}
	return f
}

// Expect returns the first frame of event, failing the test if none arrives within d. Frames of
// other events stay queued for later calls.
func (c *Client) Expect(event string, d time.Duration) Frame {
	c.t.Helper()
	f, ok := c.take(func(f Frame) bool { return f.Event == event }, d, true)
	if !ok {
		c.t.Fatalf("signalingtest: no %q within %v; have %s", event, d, c.pending())
	}
	return f
}

// ExpectError returns the first `error` event and its code.
func (c *Client) ExpectError(d time.Duration) (code string, f Frame) {
	c.t.Helper()
	f = c.Expect("error", d)
	var e signaling.Error
	_ = f.Bind(&e)
	return e.Code, f
}

// syncs numbers the refs of Sync's pings, unique in the process.
var syncs atomic.Uint64

// Sync is a barrier: it sends a `ping` with a fresh ref and waits, at most d, for its `pong`.
// The server reads a session's frames in order and queues the pong behind every frame queued
// for the session before it read the ping, so when Sync returns every such frame has arrived;
// they stay queued for later calls. An event that a server-side action sends is covered once
// that action has finished (the hook or handler returned, the memory broker delivered).
func (c *Client) Sync(d time.Duration) {
	c.t.Helper()
	ref := "signalingtest-sync-" + strconv.FormatUint(syncs.Add(1), 10)
	c.SendRef("ping", struct{}{}, ref)
	if _, ok := c.take(func(f Frame) bool { return f.Event == "pong" && f.Ref == ref }, d, true); !ok {
		c.t.Fatalf("signalingtest: no pong for barrier %s within %v; have %s", ref, d, c.pending())
	}
}

// ExpectQuiet checks an absence after a barrier: it runs Sync and fails the test if a frame of
// one of events (of any event, when none is given) arrived before the barrier's pong or is
// queued. Unlike ExpectNone it waits for no window of time, so a late event fails it instead of
// passing it: use it after the action whose absence of effect it checks has finished.
func (c *Client) ExpectQuiet(events ...string) {
	c.t.Helper()
	c.Sync(5 * time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.backlog {
		if len(events) == 0 || slices.Contains(events, f.Event) {
			c.t.Fatalf("signalingtest: unexpected %q before the barrier: %s", f.Event, f.Raw)
		}
	}
}

// ExpectNone fails the test if a frame of event arrives within d (or is already queued). It
// passes when the event comes after d; prefer ExpectQuiet, which checks after a barrier.
func (c *Client) ExpectNone(event string, d time.Duration) {
	c.t.Helper()
	if f, ok := c.take(func(f Frame) bool { return f.Event == event }, d, false); ok {
		c.t.Fatalf("signalingtest: unexpected %q: %s", event, f.Raw)
	}
}

// Drain discards every frame received so far.
func (c *Client) Drain() {
	c.mu.Lock()
	c.backlog = nil
	c.mu.Unlock()
}

// Frames returns (and removes) every queued frame of event.
func (c *Client) Frames(event string) []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out, keep []Frame
	for _, f := range c.backlog {
		if f.Event == event {
			out = append(out, f)
		} else {
			keep = append(keep, f)
		}
	}
	c.backlog = keep
	return out
}

// ExpectClosed waits for the connection to end and returns its close code (-1: no close frame).
func (c *Client) ExpectClosed(d time.Duration) signaling.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
		c.t.Fatalf("signalingtest: connection still open after %v", d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return signaling.CloseStatus(c.closed)
}

// Close closes the client's connection with code.
func (c *Client) Close(code signaling.StatusCode) {
	_ = c.conn.Close(code, "")
	c.cancel()
}

func (c *Client) pending() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := "["
	for i, f := range c.backlog {
		if i > 0 {
			s += " "
		}
		s += f.Event
	}
	if c.closed != nil {
		s += " (closed: " + c.closed.Error() + ")"
	}
	return s + "]"
}

func (c *Client) take(match func(Frame) bool, d time.Duration, want bool) (Frame, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i, f := range c.backlog {
			if match(f) {
				c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
				c.mu.Unlock()
				return f, true
			}
		}
		wait, closed := c.cond, c.closed != nil
		c.mu.Unlock()
		if closed && want {
			return Frame{}, false
		}
		select {
		case <-wait:
		case <-deadline.C:
			return Frame{}, false
		}
	}
}
