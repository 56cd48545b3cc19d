package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/huddle-go/huddle/signaling"
)

// ClientOptions configures Connect. The zero value of each field means its default.
type ClientOptions struct {
	// Dial configures each connection (codec, headers, HTTP client, read limit).
	Dial DialOptions
	// Reconnect makes the client reconnect after a lost connection, with exponential backoff
	// and full jitter, resuming its session with the last seq it received. Without it, a lost
	// connection ends the client (Events is closed).
	Reconnect bool
	// MinBackoff is the first backoff ceiling; each failed attempt doubles it. Default: 100 ms.
	MinBackoff time.Duration
	// MaxBackoff caps the backoff ceiling. Default: 5 s.
	MaxBackoff time.Duration
	// OnSession is called with every `session` frame, fresh or resumed: for the first, before
	// Connect returns, on Connect's goroutine; afterwards on the client's reader goroutine,
	// before any event of that connection reaches Events. It must not block for long, wait for
	// Events, or call Close.
	OnSession func(SessionInfo)
	// OnResumeFailed is called, after OnSession and under the same rules, when a reconnect got a
	// fresh session (`resumed: false`): whatever the old session had (rooms, meetings) is gone
	// and the application must re-sync (join again, get_history; ClientOptions.Hook can do it).
	// Send works from inside it.
	OnResumeFailed func()
	// Hook, when set, sees every event before Events and may send events of its own after a
	// reconnect (ClientHook): chat/wschat.NewResync re-syncs chat rooms after a refused resume,
	// so that a chat user loses no message. Default: none, every event goes to Events.
	Hook ClientHook
	// Logger receives the client's logs (reconnects at Info, details at Debug). Default: silent.
	Logger *slog.Logger
}

// SessionInfo is the payload of the `session` event (PROTOCOL.md §3).
type SessionInfo struct {
	SessionID      string                `json:"sessionId"`
	User           signaling.User        `json:"user"`
	ResumeToken    string                `json:"resumeToken"`
	ResumeWindowMs int64                 `json:"resumeWindowMs"`
	Resumed        bool                  `json:"resumed"`
	ICEServers     []signaling.ICEServer `json:"iceServers"`
	NodeID         string                `json:"nodeId"`
}

// Event is one server event as a Client received it. Data is the raw value of `data` (or of
// `payload`, with the json-payload codec). Seq is 0 for ephemeral events.
type Event struct {
	Event string
	Data  json.RawMessage
	Ref   string
	Seq   uint64
}

// ErrClosed is signaling.ErrClosed, the one "closed by its owner" error: Send returns it once
// the client is closed, and Send and Err wrap it once the client gave up.
var ErrClosed = signaling.ErrClosed

// maxSendRetries bounds how many new connections Send tries after failed writes.
const maxSendRetries = 3

// Timeouts of one connection attempt.
const (
	handshakeTimeout = 10 * time.Second // dial and upgrade
	sessionTimeout   = 10 * time.Second // from the upgrade to the `session` frame
)

// Client is a Huddle client over a WebSocket that survives network flicker: with
// ClientOptions.Reconnect it reconnects and resumes its session, and Events delivers every event
// exactly once and in order across resumes (an event whose seq is not above the last one seen is
// dropped). Create one with Connect.
//
// Events are queued without bound between the connection's reader and the Events channel, so
// the reader never waits for the application and the server never sees a slow consumer; an
// application that stops reading Events grows that queue until it reads again or closes the
// client.
//
// The client gives up, closing Events after what was queued, when the server closes with 1000
// (the session ended) or 1008 (policy: an expired token), when a handshake is refused with a 4xx
// status (401 included: the credentials are bad; a refused resume token is retried once without
// resume), or on any lost connection without Reconnect. Other closes (1001, 1009, 1011, 1012,
// 1013, a dropped TCP connection) and dial failures are retried until Close.
//
// All methods are safe for concurrent use.
type Client struct {
	url  *url.URL
	opts ClientOptions
	log  *slog.Logger

	cancel context.CancelFunc // stops the reader and a reconnect in progress
	quit   chan struct{}      // closed by Close
	events chan Event
	wake   chan struct{} // cap 1: the queue grew, or the reader finished
	wg     sync.WaitGroup

	mu         sync.Mutex
	conn       *conn         // nil while reconnecting
	ready      chan struct{} // closed when conn is set or the client is done
	info       SessionInfo
	lastSeq    uint64
	closed     bool  // Close was called
	done       bool  // no more connections will come
	err        error // why the client gave up
	queue      []Event
	readerDone bool
}

// Connect dials url, waits for the `session` frame and returns the client. url is the full
// ws:// (or wss://) URL of the endpoint with the credentials, e.g. `?user=a&name=A` or
// `?token=<JWT>`; reconnects add or replace its `resume` and `lastSeq` parameters. ctx bounds
// the first connection only; the client then lives until Close, or until it gives up.
// A refused handshake is a *HandshakeError; Connect itself does not retry.
func Connect(ctx context.Context, url string, opts *ClientOptions) (*Client, error) {
	o := opts.withDefaults()
	u, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	c := &Client{
		url:    u,
		opts:   o,
		log:    o.Logger,
		quit:   make(chan struct{}),
		events: make(chan Event, 64),
		wake:   make(chan struct{}, 1),
		ready:  make(chan struct{}),
	}
	cn, info, err := c.dialSession(ctx, u)
	if err != nil {
		return nil, err
	}
	c.conn, c.info = cn, info
	close(c.ready)
	if o.OnSession != nil {
		o.OnSession(info)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go c.run(runCtx, cn)
	go c.deliver()
	return c, nil
}

func (opts *ClientOptions) withDefaults() ClientOptions {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.Dial.Header != nil {
		o.Dial.Header = o.Dial.Header.Clone()
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("ws: connect: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("ws: connect: unsupported URL scheme %q", u.Scheme)
	}
	return u, nil
}

// Session returns the current session, as of the last `session` frame.
func (c *Client) Session() SessionInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	info := c.info
	info.ICEServers = slices.Clone(info.ICEServers)
	return info
}

// Events returns the channel of every event after `session` (`resumed` included), in order.
// It is closed when the client is closed or gives up; see Err for why.
func (c *Client) Events() <-chan Event { return c.events }

// Err returns why the client gave up (wrapping ErrClosed and the cause, such as a
// *signaling.CloseError or a *HandshakeError), ErrClosed after Close, or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send sends one event with data (encoded as JSON; nil sends null) as
// {"event":...,"data":...}. While the client is reconnecting it waits for the new connection,
// or for ctx; with Reconnect, a write that fails on a connection that just broke is retried on
// the next one. A nil error means the frame was handed to the network, not that the server
// handled it: a connection that dies right after may lose it, as with any socket.
func (c *Client) Send(ctx context.Context, event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("ws: send %s: %w", event, err)
	}
	frame, err := signaling.JSON.Encode(signaling.Envelope{Event: event, Data: json.RawMessage(raw)})
	if err != nil {
		return fmt.Errorf("ws: send %s: %w", event, err)
	}
	for retries := 0; ; {
		c.mu.Lock()
		cn, ready, done, cerr := c.conn, c.ready, c.done, c.err
		c.mu.Unlock()
		if done {
			return cerr
		}
		if cn == nil {
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				return fmt.Errorf("ws: send %s: %w", event, ctx.Err())
			}
		}
		err := cn.Write(ctx, frame)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !c.opts.Reconnect || retries == maxSendRetries {
			return fmt.Errorf("ws: send %s: %w", event, err)
		}
		retries++
		// A failed write never hands the server a whole frame, so the event can go out on
		// the next connection. Make sure the reader notices, and wait for it.
		cn.abort()
		c.lose(cn)
	}
}

// Close closes the connection with 1000, which ends the session on the server at once (no
// resume window), stops every goroutine of the client and closes Events. It waits for the
// server's close answer (at most about 5 s when the server does not answer). It always returns
// nil and may be called more than once, but not from OnSession or OnResumeFailed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	cn := c.conn
	c.mu.Unlock()
	close(c.quit)
	if cn != nil {
		// The close handshake: the reader receives the server's answer and stops.
		_ = cn.Close(signaling.StatusNormalClosure, "")
	}
	c.cancel()
	c.wg.Wait()
	return nil
}

// Drop aborts the current connection without a close frame, as a network failure would, so
// that the server keeps the session for its resume window; with Reconnect the client then
// reconnects and resumes. It is meant for tests.
func (c *Client) Drop() {
	c.mu.Lock()
	cn := c.conn
	c.mu.Unlock()
	if cn != nil {
		cn.abort()
		c.lose(cn)
	}
}

// run is the client's reader goroutine: it reads the current connection and reconnects.
func (c *Client) run(ctx context.Context, cn *conn) {
	defer c.wg.Done()
	for {
		err := c.readLoop(ctx, cn)
		cn.abort() // release it, if the error did not already
		c.lose(cn)
		if c.isClosed() {
			c.finish(ErrClosed)
			return
		}
		if !c.opts.Reconnect || terminal(err) {
			c.log.Debug("ws: client connection ended", "err", err)
			c.finish(fmt.Errorf("%w: %w", ErrClosed, err))
			return
		}
		c.log.Info("ws: connection lost, reconnecting", "err", err)
		cn, err = c.reconnect(ctx)
		if err != nil {
			c.finish(err)
			return
		}
	}
}

func (c *Client) readLoop(ctx context.Context, cn *conn) error {
	for {
		b, err := cn.Read(ctx)
		if err != nil {
			return err
		}
		ev, err := decodeEvent(b)
		if err != nil {
			c.log.Debug("ws: dropping an undecodable frame", "err", err)
			continue
		}
		if ev.Event == "session" {
			c.log.Debug("ws: ignoring a session frame in mid-connection")
			continue
		}
		if !c.accept(ev) {
			continue
		}
		if c.opts.Hook == nil {
			c.enqueue(ev)
			continue
		}
		out, send := c.opts.Hook.Receive(ev)
		c.enqueue(out...)
		c.write(ctx, cn, send) // on a failure the connection broke: the reader sees it next
	}
}

// write sends a hook's events on cn, each within handshakeTimeout. It stops at the first failed
// write and does not retry it: the connection is broken, and the hook asks again on the next one.
func (c *Client) write(ctx context.Context, cn *conn, evs []signaling.Envelope) {
	for _, e := range evs {
		frame, err := signaling.JSON.Encode(e)
		if err != nil {
			c.log.Error("ws: a hook's event does not encode", "event", e.Event, "err", err)
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err = cn.Write(wctx, frame)
		cancel()
		if err != nil {
			return
		}
	}
}

// accept reports whether ev is new: an event whose seq was seen already is not.
func (c *Client) accept(ev Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Seq > 0 {
		if ev.Seq <= c.lastSeq {
			return false
		}
		c.lastSeq = ev.Seq
	}
	return true
}

// enqueue queues events for Events.
func (c *Client) enqueue(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	c.mu.Lock()
	c.queue = append(c.queue, evs...)
	c.mu.Unlock()
	c.signal()
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// deliver moves queued events to the Events channel.
func (c *Client) deliver() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 {
			finished := c.readerDone
			c.queue = nil // let a grown backing array go
			c.mu.Unlock()
			if finished {
				return
			}
			select {
			case <-c.wake:
			case <-c.quit:
				return
			}
			c.mu.Lock()
		}
		ev := c.queue[0]
		c.queue[0] = Event{}
		c.queue = c.queue[1:]
		c.mu.Unlock()
		select {
		case c.events <- ev:
		case <-c.quit:
			return
		}
	}
}

// lose forgets cn if it is the current connection: Send waits for the next one.
func (c *Client) lose(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != cn || c.done {
		return
	}
	c.conn = nil
	c.ready = make(chan struct{})
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// finish ends the client: Send fails from now on and Events closes after the queue.
func (c *Client) finish(err error) {
	c.mu.Lock()
	c.done = true
	c.err = err
	c.conn = nil
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	c.readerDone = true
	c.mu.Unlock()
	c.signal()
}

// reconnect dials until it has a session, or gives up.
func (c *Client) reconnect(ctx context.Context) (*conn, error) {
	resume := true
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ErrClosed
		}
		u, resuming := c.reconnectURL(resume)
		actx, cancel := context.WithTimeout(ctx, handshakeTimeout+sessionTimeout)
		cn, info, err := c.dialSession(actx, u)
		cancel()
		if err == nil {
			if !c.attach(cn, info) {
				_ = cn.Close(signaling.StatusNormalClosure, "")
				return nil, ErrClosed
			}
			c.log.Info("ws: reconnected", "session", info.SessionID, "resumed", info.Resumed, "attempts", attempt+1)
			if c.opts.OnSession != nil {
				c.opts.OnSession(info)
			}
			if !info.Resumed && c.opts.OnResumeFailed != nil {
				c.opts.OnResumeFailed()
			}
			if c.opts.Hook != nil {
				c.write(ctx, cn, c.opts.Hook.Reconnected(info.Resumed))
			}
			return cn, nil
		}
		if ctx.Err() != nil {
			return nil, ErrClosed
		}
		var he *HandshakeError
		if errors.As(err, &he) {
			switch {
			case he.StatusCode == http.StatusUnauthorized && resuming:
				// The token may come from a server that restarted with another secret: try
				// once more for a fresh session, and re-sync.
				c.log.Info("ws: resume token refused, reconnecting without it", "err", err)
				resume = false
				attempt = -1
				continue
			case he.StatusCode >= 400 && he.StatusCode < 500 &&
				he.StatusCode != http.StatusRequestTimeout && he.StatusCode != http.StatusTooManyRequests:
				return nil, fmt.Errorf("%w: %w", ErrClosed, err)
			}
		} else if terminal(err) {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		c.log.Debug("ws: reconnect attempt failed", "attempt", attempt+1, "err", err)
	}
}

// backoff is the wait before attempt (0-based): full jitter, uniform in [0, ceiling), the
// ceiling doubling from MinBackoff up to MaxBackoff.
func (c *Client) backoff(attempt int) time.Duration {
	ceil := c.opts.MaxBackoff
	if attempt < 32 {
		if d := c.opts.MinBackoff << attempt; d > 0 && d < ceil {
			ceil = d
		}
	}
	return rand.N(ceil)
}

// reconnectURL is the endpoint URL with `resume` and `lastSeq` set (when resume is wanted and
// there is a token) or removed; it reports whether it asks for a resume.
func (c *Client) reconnectURL(resume bool) (*url.URL, bool) {
	c.mu.Lock()
	token, last := c.info.ResumeToken, c.lastSeq
	c.mu.Unlock()
	u := *c.url
	q := u.Query()
	resuming := resume && token != ""
	if resuming {
		q.Set("resume", token)
		q.Set("lastSeq", strconv.FormatUint(last, 10))
	} else {
		q.Del("resume")
		q.Del("lastSeq")
	}
	u.RawQuery = q.Encode()
	return &u, resuming
}

// attach makes cn the current connection; it reports false if the client was closed meanwhile.
func (c *Client) attach(cn *conn, info SessionInfo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if !info.Resumed {
		c.lastSeq = 0 // a fresh session numbers its events from 1 again
	}
	c.info = info
	c.conn = cn
	close(c.ready)
	return true
}

// dialSession dials u and reads the `session` frame.
func (c *Client) dialSession(ctx context.Context, u *url.URL) (*conn, SessionInfo, error) {
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	cn, _, err := dial(dctx, u.String(), &c.opts.Dial)
	cancel()
	if err != nil {
		return nil, SessionInfo{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	b, err := cn.Read(rctx)
	if err != nil {
		cn.abort()
		return nil, SessionInfo{}, err
	}
	ev, err := decodeEvent(b)
	if err == nil && ev.Event != "session" {
		err = fmt.Errorf("ws: connect: the first frame is %q, not session", ev.Event)
	}
	var info SessionInfo
	if err == nil {
		if err = json.Unmarshal(ev.Data, &info); err != nil {
			err = fmt.Errorf("ws: connect: session payload: %w", err)
		}
	}
	if err != nil {
		_ = cn.Close(signaling.StatusPolicyViolation, "expected a session frame")
		return nil, SessionInfo{}, err
	}
	return cn, info, nil
}

// terminal reports whether a lost connection must not be retried: the server ended the session
// (1000) or refused it on policy (1008).
func terminal(err error) bool {
	switch signaling.CloseStatus(err) {
	case signaling.StatusNormalClosure, signaling.StatusPolicyViolation:
		return true
	}
	return false
}

func decodeEvent(b []byte) (Event, error) {
	var raw struct {
		Event   string          `json:"event"`
		Data    json.RawMessage `json:"data"`
		Payload json.RawMessage `json:"payload"`
		Ref     string          `json:"ref"`
		Seq     uint64          `json:"seq"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Event{}, fmt.Errorf("ws: decode: %w", err)
	}
	if raw.Event == "" {
		return Event{}, errors.New("ws: decode: frame has no event")
	}
	d := raw.Data
	if d == nil {
		d = raw.Payload
	}
	return Event{Event: raw.Event, Data: d, Ref: raw.Ref, Seq: raw.Seq}, nil
}
