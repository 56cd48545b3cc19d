package ws

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The server side's data frames do not go through coder/websocket's writer: batchConn, the
// hijacked connection under it, frames them itself (an unmasked text frame is a 2-10 byte
// header and the payload) into one buffer, and sends the buffer with one system call, at once
// or, while the session writer holds a batch, at the batch's end. coder/websocket's writer (its
// two channel-based locks, its bufio copy and a deadline per frame cost more than the frame)
// is left the control frames (ping, pong, close), which it writes whole, one per Write here, so
// that frames never interleave. The buffer comes from a pool and goes back after each send, so
// an idle connection holds none.

// writeTimeout bounds every write to the socket: a peer that does not read for this long is
// dropped (the write fails and the session writer closes the connection).
const writeTimeout = 10 * time.Second

// maxPooledBuffer is the largest send buffer put back in the pool; a bigger one (after a burst)
// is left to the garbage collector.
const maxPooledBuffer = 64 << 10

var sendBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// batchConn is a net.Conn whose writes can be held and sent together.
type batchConn struct {
	net.Conn
	mu        sync.Mutex // serializes socket writes, so that frames keep their order
	holding   bool
	buf       *[]byte   // pending bytes (from sendBuffers); nil when none
	closeSent bool      // a close frame went out: no data frame may follow
	deadline  time.Time // the write deadline set on the socket
}

// Write sends p, which coder/websocket writes (control frames, whole), or appends it to the
// held batch.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) > 0 && p[0]&0x0f == 0x8 {
		c.closeSent = true
	}
	if c.holding {
		c.appendLocked(p)
		return len(p), nil
	}
	if c.buf != nil { // not expected: nothing is pending outside a batch
		c.appendLocked(p)
		return len(p), c.sendLocked()
	}
	return c.write(p)
}

// writeText sends payload as one unmasked text frame, or appends it to the held batch.
func (c *batchConn) writeText(payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return net.ErrClosed
	}
	if c.buf == nil {
		c.buf = sendBuffers.Get().(*[]byte)
	}
	b := append(*c.buf, 0x81) // FIN, text
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	*c.buf = append(b, payload...)
	if c.holding {
		return nil
	}
	return c.sendLocked()
}

func (c *batchConn) appendLocked(p []byte) {
	if c.buf == nil {
		c.buf = sendBuffers.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
}

// sendLocked writes the pending bytes and returns the buffer to the pool; c.mu is held.
func (c *batchConn) sendLocked() error {
	if c.buf == nil {
		return nil
	}
	_, err := c.write(*c.buf)
	if cap(*c.buf) <= maxPooledBuffer {
		*c.buf = (*c.buf)[:0]
		sendBuffers.Put(c.buf)
	}
	c.buf = nil
	return err
}

// write sends p under the write timeout; c.mu is held. The socket's deadline is moved only when
// less than half the timeout is left, not for every write.
func (c *batchConn) write(p []byte) (int, error) {
	if now := time.Now(); c.deadline.Sub(now) < writeTimeout/2 {
		c.deadline = now.Add(writeTimeout)
		_ = c.Conn.SetWriteDeadline(c.deadline)
	}
	return c.Conn.Write(p)
}

// Close sends what a batch still holds, then closes the socket. coder/websocket writes control
// frames (a pong, the answer to the peer's close) from its reading goroutine, which may land in
// a batch being held; its close handshake closes the socket right after writing its close
// frame, which must not be lost. A write in progress (a peer that does not read) is not waited
// for: closing the socket is what unblocks it.
func (c *batchConn) Close() error {
	if c.mu.TryLock() {
		if c.buf != nil {
			c.deadline = time.Now().Add(time.Second)
			_ = c.Conn.SetWriteDeadline(c.deadline)
			_ = c.sendLocked()
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
	return c.sendLocked()
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
	// Small buffers instead of the server's 4 KiB ones, which an idle connection would hold
	// for its lifetime: coder/websocket writes only control frames through the writer (at most
	// 131 bytes), and reads a frame's header through the reader (a payload that does not fit
	// is read straight into the message). Bytes the client sent after its request are kept.
	var src io.Reader = nc
	n := brw.Reader.Buffered()
	if n > 0 {
		b, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc)
	}
	br := bufio.NewReaderSize(src, max(readBuffer, n))
	if n > 0 {
		_, _ = br.Peek(n) // buffered again, where coder/websocket looks for them
	}
	return w.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.conn, controlBuffer)), nil
}

// The buffers of an accepted connection (see Hijack).
const (
	readBuffer    = 512
	controlBuffer = 256
)
