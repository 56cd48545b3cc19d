package ws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/huddle-go/huddle/signaling"
)

// conn adapts a *websocket.Conn to signaling.Conn, and to signaling.BatchWriter when it was
// accepted by Handler (its socket is then a batchConn).
//
// Read is called from one goroutine. Write and Close are safe for concurrent use
// (coder/websocket serializes message writes). Close is idempotent: the first call performs the
// close handshake, later calls return nil at once.
type conn struct {
	ws     *websocket.Conn
	batch  *batchConn // nil: every message is flushed on its own (a dialed connection)
	log    *slog.Logger
	closed atomic.Bool
	// handshake is the close our Close completed with the peer (the peer answered with the same
	// code); a Read that starts after it reports it rather than a bare "closed connection".
	handshake atomic.Pointer[signaling.CloseError]
	closeDone chan struct{} // closed when the first Close or abort has returned

	ping *pinger // the server's heartbeat, when running

	// The context of the last Read (the session's, for all of them, on a server) and the stop
	// of its AfterFunc, which aborts the connection if it ends while a Read is in progress
	// (reading). coder/websocket would register and remove a callback on the context for
	// every Read instead (keeping the context's table of children allocated); it is given a
	// context that never ends.
	readCtx  context.Context
	readStop func() bool
	readGen  atomic.Uint64 // numbers readCtx, so that a late callback of an earlier one does nothing
	reading  atomic.Bool
}

var (
	_ signaling.Conn        = (*conn)(nil)
	_ signaling.BatchWriter = (*conn)(nil)
)

func newConn(c *websocket.Conn, log *slog.Logger) *conn {
	return &conn{ws: c, log: log, closeDone: make(chan struct{})}
}

// Read returns the next text or binary message. When the peer closed with a close frame the
// error wraps a *signaling.CloseError with its code and reason. When ctx ends the connection is
// aborted, as coder/websocket does, and Read returns ctx's error.
func (c *conn) Read(ctx context.Context) ([]byte, error) {
	if ctx != c.readCtx {
		if c.readStop != nil {
			c.readStop()
		}
		gen := c.readGen.Add(1)
		c.readCtx, c.readStop = ctx, context.AfterFunc(ctx, func() {
			if c.reading.Load() && c.readGen.Load() == gen {
				c.abort()
			}
		})
	}
	c.reading.Store(true) // before looking at ctx: a cancellation after that look aborts
	if err := ctx.Err(); err != nil {
		c.reading.Store(false)
		return nil, fmt.Errorf("ws: read: %w", err)
	}
	_, b, err := c.ws.Read(context.Background())
	c.reading.Store(false)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("ws: read: %w", ctx.Err()) // ctx ended it (and aborted the connection)
	}
	if err != nil {
		if c.closed.Load() && errors.Is(err, net.ErrClosed) {
			// Our own Close ended the connection (the read may have lost the race for the
			// peer's answer to it): report the close handshake's result.
			<-c.closeDone
			if ce := c.handshake.Load(); ce != nil {
				return nil, fmt.Errorf("ws: read: %w", ce)
			}
		}
		return nil, readError(err)
	}
	return b, nil
}

// readError converts a close frame into a *signaling.CloseError, keeping other errors as they are.
func readError(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Errorf("ws: read: %w", &signaling.CloseError{Code: signaling.StatusCode(ce.Code), Reason: ce.Reason})
	}
	return fmt.Errorf("ws: read: %w", err)
}

// Write sends frame as one text message. A ctx without a deadline or cancellation costs
// nothing per write; the socket's write timeout bounds a stuck write either way. On an accepted
// connection the frame is written by batchConn (one buffer, one system call), not by
// coder/websocket's writer; ctx is not consulted there.
func (c *conn) Write(ctx context.Context, frame []byte) error {
	if c.batch != nil {
		if err := c.batch.writeText(frame); err != nil {
			return fmt.Errorf("ws: write: %w", err)
		}
		return nil
	}
	if err := c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	return nil
}

// StartBatch holds the messages written from now on, until FlushBatch.
func (c *conn) StartBatch() {
	if c.batch != nil {
		c.batch.hold()
	}
}

// FlushBatch sends the held messages with one write to the socket.
func (c *conn) FlushBatch() error {
	if c.batch == nil {
		return nil
	}
	if err := c.batch.flush(); err != nil {
		return fmt.Errorf("ws: write: %w", err)
	}
	return nil
}

// Close sends a close frame with code and reason, waits briefly for the peer's answer and
// releases the connection. Only the first call does anything.
func (c *conn) Close(code signaling.StatusCode, reason string) error {
	if c.closed.Swap(true) {
		return nil
	}
	defer close(c.closeDone)
	c.stop()
	reason = truncateReason(reason)
	if code == signaling.StatusTryAgainLater {
		// A slow consumer: the close frame gets a short deadline, and its answer is not
		// waited for long, before the connection is dropped.
		t := time.AfterFunc(slowCloseTimeout, func() { _ = c.ws.CloseNow() })
		defer t.Stop()
	}
	err := c.ws.Close(websocket.StatusCode(code), reason)
	if err != nil {
		return fmt.Errorf("ws: close: %w", err)
	}
	c.handshake.Store(&signaling.CloseError{Code: code, Reason: reason})
	return nil
}

// abort closes the TCP connection at once, without a close frame (a dead peer would not answer
// the handshake anyway). The peer, if it is still there, sees an abnormal closure.
func (c *conn) abort() {
	if c.closed.Swap(true) {
		return
	}
	defer close(c.closeDone)
	c.stop()
	_ = c.ws.CloseNow()
}

func (c *conn) stop() {
	if c.ping != nil {
		c.ping.stop()
	}
}

// readDone releases the Read context's callback (called once the connection is closed).
func (c *conn) readDone() {
	if c.readStop != nil {
		c.readStop()
	}
}

// startPing runs the heartbeat: every interval a ping, and a connection whose pong is later than
// timeout is aborted. Between pings it is a timer, not a goroutine (an idle connection costs
// less); each ping runs on the timer's goroutine. It ends when the connection is closed (or a
// ping fails), and wait returns once no ping is in flight.
func (c *conn) startPing(interval, timeout time.Duration) {
	p := &pinger{c: c, interval: interval, timeout: timeout}
	c.ping = p
	p.mu.Lock()
	p.timer = time.AfterFunc(interval, p.run)
	p.mu.Unlock()
}

// pinger is a connection's heartbeat.
type pinger struct {
	c                 *conn
	interval, timeout time.Duration

	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	inFlight bool
	cancel   context.CancelFunc // the ping in flight's (a context exists only while one is)
	idle     chan struct{}      // closed when the ping in flight ends; nil: nobody waits
}

func (p *pinger) run() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.inFlight = true
	pctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	p.cancel = cancel
	p.mu.Unlock()

	err := p.c.ws.Ping(pctx)
	late := errors.Is(pctx.Err(), context.DeadlineExceeded)
	cancel()

	p.mu.Lock()
	p.inFlight = false
	p.cancel = nil
	late = late && !p.stopped
	if p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	if err == nil && !p.stopped {
		p.timer.Reset(p.interval)
	}
	p.mu.Unlock()
	if err != nil && late {
		p.c.log.Debug("ws: pong timeout, dropping connection", "timeout", p.timeout)
		p.c.abort()
	}
	// Any other error: the connection is already closed; its reader reports why.
}

// stop ends the heartbeat and cancels a ping in flight.
func (p *pinger) stop() {
	p.mu.Lock()
	p.stopped = true
	p.timer.Stop()
	cancel := p.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// wait blocks until no ping is in flight. Call it after Close or abort.
func (c *conn) wait() {
	if c.ping == nil {
		return
	}
	p := c.ping
	p.mu.Lock()
	if !p.inFlight {
		p.mu.Unlock()
		return
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	idle := p.idle
	p.mu.Unlock()
	<-idle
}

// Subprotocol returns the negotiated WebSocket subprotocol.
func (c *conn) Subprotocol() string { return c.ws.Subprotocol() }

// slowCloseTimeout bounds the close handshake with a slow consumer (1013).
const slowCloseTimeout = time.Second

// maxReason is the longest close reason that fits a control frame (125 bytes minus the code).
const maxReason = 123

func truncateReason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
