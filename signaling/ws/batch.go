package ws

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// coder/websocket flushes its buffered writer at the end of every message, so N queued frames
// would cost N system calls. batchConn sits under it, on the hijacked connection: while the
// session writer holds a batch, what coder/websocket flushes is appended to one buffer, and the
// batch's end writes that buffer with one system call. Framing stays coder/websocket's; only
// the moment bytes reach the socket changes.

// writeTimeout bounds every write to the socket: a peer that does not read for this long is
// dropped (the write fails and the session writer closes the connection).
const writeTimeout = 10 * time.Second

// keepBatchBuffer is the largest batch buffer kept between batches; a bigger one (after a burst)
// is released, so that an idle connection holds no burst-sized buffer.
const keepBatchBuffer = 16 << 10

// batchConn is a net.Conn whose writes can be held and sent together.
type batchConn struct {
	net.Conn
	mu      sync.Mutex // serializes socket writes, so that held and direct bytes keep their order
	holding bool
	buf     []byte
}

// Write sends p, or appends it to the held batch.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holding {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.write(p)
}

// write sends p under the write timeout; c.mu is held.
func (c *batchConn) write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Conn.Write(p)
}

// Close sends what a batch still holds, then closes the socket. coder/websocket writes control
// frames (a pong, the answer to the peer's close) from its reading goroutine, which may land in
// a batch being held; its close handshake closes the socket right after writing its close
// frame, which must not be lost. A write in progress (a peer that does not read) is not waited
// for: closing the socket is what unblocks it.
func (c *batchConn) Close() error {
	if c.mu.TryLock() {
		if len(c.buf) > 0 {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Conn.Write(c.buf)
			c.buf = nil
		}
		c.holding = false
		c.mu.Unlock()
	}
	return c.Conn.Close()
}

// hold starts a batch: writes are kept until flush.
func (c *batchConn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// flush ends the batch and sends what it holds with one write.
func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.write(c.buf)
	if cap(c.buf) > keepBatchBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// batchResponseWriter hands websocket.Accept a hijacked connection wrapped in a batchConn.
type batchResponseWriter struct {
	http.ResponseWriter
	conn *batchConn // set by Hijack
}

// batching wraps w so that the connection websocket.Accept hijacks from it supports batches;
// after Accept, conn() returns it (nil if Accept did not hijack).
func batching(w http.ResponseWriter) *batchResponseWriter {
	return &batchResponseWriter{ResponseWriter: w}
}

func (w *batchResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the underlying connection and wraps it. The server's buffered writer is
// flushed and pointed at the batchConn (its buffer is reused, not copied).
func (w *batchResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("ws: http.ResponseWriter does not implement http.Hijacker")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: nc}
	brw.Writer.Reset(w.conn)
	return w.conn, brw, nil
}
