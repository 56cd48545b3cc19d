package signaling

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The inbound side of a session: the reader charges each frame to the rate limit when it
// arrives and queues it; a dispatcher goroutine, started when frames are queued and gone when
// none are, handles them one at a time, in order. A slow handler (a stalled backend) thus
// fills the inbox instead of delaying the charge, so a client sending within its rate is never
// limited because the server was slow; a full inbox stops the reader (TCP backpressure).

// Inbox bounds: frames and bytes waiting to be handled (one frame is always accepted).
const (
	inboxFrames = 128
	inboxBytes  = 256 << 10
)

// inFrame is one frame waiting to be handled, decoded when it arrived (env, or err); limited
// marks an excess frame that is answered with `rate_limited` instead; pending is its event's
// admission counter, released once it is handled (admission.go).
type inFrame struct {
	frame   []byte
	env     Envelope
	err     error
	limited bool
	pending *atomic.Int64
}

// inbox is a session connection's queue of received frames.
type inbox struct {
	mu      sync.Mutex
	q       []inFrame
	bytes   int
	running bool
	room    chan struct{} // closed when a frame was taken; nil: the reader does not wait
	idle    chan struct{} // closed when the dispatcher exits; nil: nobody waits
}

// reader is the state of a session's read loop: the rate limit's flood tracking.
type reader struct {
	period     time.Duration // the rate limit's refill period
	lastAnswer time.Time     // the last excess frame answered with rate_limited
	floodStart time.Time     // the first excess frame of the current flood (zero: none)
	lastExcess time.Time
}

// charge applies the rate limit to a frame that just arrived. It returns whether to handle the
// frame, whether to answer it with rate_limited (one per refill period), and whether the
// session has flooded for longer than FloodTimeout.
func (n *Node) charge(s *Session, r *reader, now time.Time) (handle, answer, flooded bool) {
	if s.limiter.AllowN(now, 1) {
		if !r.floodStart.IsZero() && now.Sub(r.lastExcess) > time.Second {
			r.floodStart = time.Time{} // a second without excess ends a flood
		}
		return true, false, false
	}
	if r.floodStart.IsZero() || now.Sub(r.lastExcess) > time.Second {
		r.floodStart = now
	}
	r.lastExcess = now
	if now.Sub(r.floodStart) > n.opts.FloodTimeout {
		return false, false, true
	}
	if now.Sub(r.lastAnswer) >= r.period {
		r.lastAnswer = now
		return false, true, false
	}
	n.stats.rateLimited.Add(1)
	return false, false, false
}

// push queues a frame for the dispatcher, waiting while the inbox is full.
func (n *Node) push(ctx context.Context, s *Session, in *inbox, f inFrame) error {
	in.mu.Lock()
	for len(in.q) > 0 && (len(in.q) >= inboxFrames || in.bytes+len(f.frame) > inboxBytes) {
		if in.room == nil {
			in.room = make(chan struct{})
		}
		room := in.room
		in.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		in.mu.Lock()
	}
	in.q = append(in.q, f)
	in.bytes += len(f.frame)
	if !in.running {
		in.running = true
		go n.dispatch(ctx, s, in)
	}
	in.mu.Unlock()
	return nil
}

// dispatch handles the inbox's frames until it is empty.
func (n *Node) dispatch(ctx context.Context, s *Session, in *inbox) {
	for {
		in.mu.Lock()
		if len(in.q) == 0 {
			in.running = false
			in.q = nil
			if in.idle != nil {
				close(in.idle)
				in.idle = nil
			}
			in.mu.Unlock()
			return
		}
		f := in.q[0]
		in.q[0] = inFrame{}
		in.q = in.q[1:]
		in.bytes -= len(f.frame)
		if in.room != nil {
			close(in.room)
			in.room = nil
		}
		in.mu.Unlock()
		n.handleFrame(ctx, s, f)
	}
}

// drained returns a channel closed once the dispatcher has handled everything queued.
func (in *inbox) drained() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.running {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if in.idle == nil {
		in.idle = make(chan struct{})
	}
	return in.idle
}

func (n *Node) handleFrame(ctx context.Context, s *Session, f inFrame) {
	if f.pending != nil {
		defer f.pending.Add(-1)
	}
	n.stats.events.Add(1)
	e, err := f.env, f.err
	if f.limited {
		s.sendError(ctx, &Error{Code: CodeRateLimited, Message: "too many events; slow down", Event: e.Event, Ref: e.Ref})
		return
	}
	if err != nil {
		msg := "frame is not a JSON object"
		if errors.Is(err, errNoEvent) {
			msg = "frame has no event"
		}
		s.sendError(ctx, &Error{Code: CodeBadRequest, Message: msg, Ref: e.Ref})
		return
	}
	if e.Event == "ping" {
		_ = s.Send(ctx, Envelope{Event: "pong", Data: struct{}{}, Ref: e.Ref}, Ephemeral())
		return
	}
	n.hmu.RLock()
	h := n.handlers[e.Event]
	n.hmu.RUnlock()
	if h == nil {
		s.sendError(ctx, &Error{Code: CodeUnknownEvent, Message: fmt.Sprintf("unknown event %q", e.Event), Event: e.Event, Ref: e.Ref})
		return
	}
	if err := n.call(ctx, h, s, e); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			out := *ce
			out.Event, out.Ref = e.Event, e.Ref
			s.sendError(ctx, &out)
			return
		}
		if errors.Is(err, ErrUnavailable) {
			n.log.Warn("backend unavailable", "session", s.id, "event", e.Event, "err", err)
			s.sendError(ctx, &Error{Code: CodeUnavailable, Message: "service unavailable; nothing was changed, try again", Event: e.Event, Ref: e.Ref})
			return
		}
		n.log.Error("handler failed", "session", s.id, "user", s.user.ID, "event", e.Event, "err", err)
		s.sendError(ctx, &Error{Code: CodeInternal, Message: "internal error", Event: e.Event, Ref: e.Ref})
	}
}

func (n *Node) call(ctx context.Context, h Handler, s *Session, e Envelope) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("signaling: handler for %q panicked: %v\n%s", e.Event, r, debug.Stack())
		}
	}()
	return h.ServeEvent(ctx, s, e)
}
