package ws

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/matryer/is"
)

// countingConn is a net.Conn that records its writes.
type countingConn struct {
	net.Conn
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }

// TestBatchConnOneWritePerBatch: what is written while a batch is held reaches the socket in
// one write, in order; outside a batch every write goes straight through.
func TestBatchConnOneWritePerBatch(t *testing.T) {
	is := is.New(t)
	cc := &countingConn{}
	b := &batchConn{Conn: cc}
	_, _ = b.Write([]byte("direct"))
	is.Equal(len(cc.writes), 1) // not held: at once

	b.hold()
	for _, p := range []string{"one", "two", "three"} {
		_, _ = b.Write([]byte(p))
	}
	is.Equal(len(cc.writes), 1) // held
	is.NoErr(b.flush())
	is.Equal(len(cc.writes), 2)                               // one write for the batch
	is.True(bytes.Equal(cc.writes[1], []byte("onetwothree"))) // in order
	is.NoErr(b.flush())
	is.Equal(len(cc.writes), 2) // an empty batch writes nothing
}

// TestBatchConnCloseSendsHeld: bytes held in a batch when the socket is closed (coder/websocket
// answers a close frame from its reading goroutine, then closes) are sent first.
func TestBatchConnCloseSendsHeld(t *testing.T) {
	is := is.New(t)
	server, client := net.Pipe()
	b := &batchConn{Conn: server}
	b.hold()
	_, _ = b.Write([]byte("close frame"))
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := client.Read(buf)
		got <- buf[:n]
	}()
	is.NoErr(b.Close())
	is.Equal(string(<-got), "close frame") // sent before the close
}

// TestBatchConnFramesText: a data frame is an unmasked final text frame with the payload
// length in its shortest form (RFC 6455 §5.2), written with one system call outside a batch.
func TestBatchConnFramesText(t *testing.T) {
	is := is.New(t)
	cc := &countingConn{}
	b := &batchConn{Conn: cc}
	for _, tc := range []struct {
		n      int
		header []byte
	}{
		{5, []byte{0x81, 5}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{70000, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70}},
	} {
		payload := bytes.Repeat([]byte("x"), tc.n)
		is.NoErr(b.writeText(payload))
		w := cc.writes[len(cc.writes)-1]
		is.True(bytes.Equal(w[:len(tc.header)], tc.header)) // FIN+text, unmasked, the length
		is.True(bytes.Equal(w[len(tc.header):], payload))   // then the payload as it is
	}
	is.Equal(len(cc.writes), 4) // one write per frame outside a batch
}

// TestBatchConnNoDataAfterClose: once coder/websocket wrote a close frame, a data frame is
// refused instead of following it on the wire.
func TestBatchConnNoDataAfterClose(t *testing.T) {
	is := is.New(t)
	cc := &countingConn{}
	b := &batchConn{Conn: cc}
	_, _ = b.Write([]byte{0x88, 2, 0x03, 0xe8}) // close 1000
	err := b.writeText([]byte("late"))
	is.True(errors.Is(err, net.ErrClosed)) // refused
	is.Equal(len(cc.writes), 1)            // only the close frame went out
}
