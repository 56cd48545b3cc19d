package signaling

import (
	"context"
	"errors"
	"fmt"
)

// StatusCode is a WebSocket close code (RFC 6455 §7.4). The in-memory transport uses the same
// values so that every transport reports closes alike.
type StatusCode int

// Close codes used by Huddle (PROTOCOL.md §8).
const (
	StatusNormalClosure   StatusCode = 1000 // the client or server ended the session on purpose
	StatusGoingAway       StatusCode = 1001 // a browser tab closed or reloaded
	StatusPolicyViolation StatusCode = 1008 // the token expired, a bad origin, a bad resume token
	StatusMessageTooBig   StatusCode = 1009 // a frame over the read limit
	StatusInternalError   StatusCode = 1011 // a bug
	StatusServiceRestart  StatusCode = 1012 // graceful shutdown: reconnect and resume
	StatusTryAgainLater   StatusCode = 1013 // slow consumer: the outbound queue overflowed
)

// CloseError reports that a connection was closed with a close frame. Transports return it from
// Conn.Read when the peer closes.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("signaling: connection closed: %d %s", e.Code, e.Reason)
}

// CloseStatus returns the close code carried by err, or -1 if err is not a close.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// Conn is one client connection, whatever carries it (a WebSocket, an in-memory pipe).
//
// Read is called from one goroutine only. Write is called from one goroutine only (the session's
// writer), but may run concurrently with Read and Close. Close is safe for concurrent use and
// idempotent; it unblocks a pending Read and Write. Write must not retain frame after it returns.
type Conn interface {
	// Read returns the next frame. When the peer closed with a close frame the error is (or
	// wraps) a *CloseError.
	Read(ctx context.Context) ([]byte, error)
	// Write sends one frame.
	Write(ctx context.Context, frame []byte) error
	// Close closes the connection with a close code and reason.
	Close(code StatusCode, reason string) error
}

// BatchWriter is implemented by Conns that can send several frames with one flush (one system
// call). When a session's queue holds several frames its writer calls StartBatch, Writes each
// frame, then FlushBatch; the frames reach the peer at FlushBatch at the latest. A Conn without
// it flushes each frame as it is written.
type BatchWriter interface {
	StartBatch()
	FlushBatch() error
}
