// Package signalingtest helps test code built on package signaling: an in-memory Conn pair and
// a test client that sends events and waits for them under a deadline, against a real *Node.
//
//	node := signaling.NewNode(nil)
//	chat.New(node, nil)
//	alice := signalingtest.Connect(t, node, signaling.User{ID: "alice"}, nil)
//	alice.Send("join_room", map[string]string{"roomId": "r1"})
//	alice.Expect("room_joined", time.Second)
package signalingtest

import (
	"context"
	"errors"
	"sync"

	"github.com/huddle-go/huddle/signaling"
)

// Pipe returns the two ends of an in-memory connection. A frame written on one end is read on the
// other; Close on either end makes the other's Read return a *signaling.CloseError with the code.
// Frames are buffered without bound, so writes never block (a test's slow consumer is a Node
// queue that overflows, not a blocked pipe).
func Pipe() (server, client signaling.Conn) {
	p := &pipe{}
	p.cond = sync.NewCond(&p.mu)
	return &pipeEnd{p: p, side: 0}, &pipeEnd{p: p, side: 1}
}

type pipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	queues [2][][]byte // queues[i]: frames waiting for side i to read
	closed bool
	code   signaling.StatusCode
	reason string
}

type pipeEnd struct {
	p    *pipe
	side int
}

// ErrPipeClosed is returned by Write after Close.
var ErrPipeClosed = errors.New("signalingtest: pipe closed")

func (e *pipeEnd) Read(ctx context.Context) ([]byte, error) {
	p := e.p
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if q := p.queues[e.side]; len(q) > 0 {
			f := q[0]
			q[0] = nil
			p.queues[e.side] = q[1:]
			return f, nil
		}
		if p.closed {
			return nil, &signaling.CloseError{Code: p.code, Reason: p.reason}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p.cond.Wait()
	}
}

func (e *pipeEnd) Write(ctx context.Context, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPipeClosed
	}
	other := 1 - e.side
	p.queues[other] = append(p.queues[other], append([]byte(nil), frame...))
	p.cond.Broadcast()
	return nil
}

func (e *pipeEnd) Close(code signaling.StatusCode, reason string) error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed, p.code, p.reason = true, code, reason
		p.cond.Broadcast()
	}
	return nil
}
