package signaling

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huddle-go/huddle/clock"
	"golang.org/x/time/rate"
)

// Session is one client's logical connection to a Node. It outlives a dropped connection for the
// resume window, so that a reconnect within it loses nothing. All methods are safe for
// concurrent use.
type Session struct {
	id      string
	user    User
	codec   Codec
	token   string
	node    *Node
	limiter *rate.Limiter

	// hookMu serializes the session's hooks, so that they see Dropped before Resumed even
	// when a resume races the detection of the drop. Lock order: hookMu before mu.
	hookMu sync.Mutex

	mu     sync.Mutex
	state  sessionState
	seq    uint64
	buf    replayBuffer
	att    *attachment // nil while dropped
	topics map[string]struct{}
	expiry clock.Timer // the resume window while dropped
	values map[any]any

	// Handover (node_handover.go): events received while adopting, and the seq at which this
	// node offered the session to another.
	pending   []replayEntry
	offeredAt uint64
	offerTo   string
}

type sessionState int

const (
	stateLive sessionState = iota
	stateDropped
	stateAdopting // being taken over from another node
	stateGone
)

// ID returns the session id, stable across resumes.
func (s *Session) ID() string { return s.id }

// User returns who the session belongs to.
func (s *Session) User() User { return s.user }

// Codec returns the session's codec.
func (s *Session) Codec() Codec { return s.codec }

// Set stores a value on the session for the domain packages (use an unexported key type).
func (s *Session) Set(key, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[any]any{}
	}
	s.values[key] = value
}

// Value returns what Set stored under key, or nil.
func (s *Session) Value(key any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key]
}

// Topics returns the topics the session is subscribed to.
func (s *Session) Topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.topics))
	for t := range s.topics {
		out = append(out, t)
	}
	return out
}

// Send encodes e for this session and queues it. Unless Ephemeral is given the event carries a
// `seq` and is replayed on resume. A session whose queue is full is closed with 1013.
func (s *Session) Send(_ context.Context, e Envelope, opts ...PublishOption) error {
	body, err := s.codec.Encode(e)
	if err != nil {
		return err
	}
	o := collect(opts)
	s.enqueue(body, o.ephemeral, "")
	return nil
}

// Reply sends event with data to this session, echoing req's ref.
func (s *Session) Reply(ctx context.Context, req Envelope, event string, data any) error {
	return s.Send(ctx, Envelope{Event: event, Data: data, Ref: req.Ref})
}

// Close closes the session's current connection with code. StatusNormalClosure and
// StatusPolicyViolation end the session at once; any other code leaves it waiting for a resume.
func (s *Session) Close(code StatusCode, reason string) {
	s.mu.Lock()
	a := s.att
	s.mu.Unlock()
	if a != nil {
		a.kill(code, reason)
	}
	if code == StatusNormalClosure || code == StatusPolicyViolation {
		// The end of the session, not just of this connection: no resume window.
		s.node.endSession(s)
	}
}

func (s *Session) sendError(ctx context.Context, e *Error) {
	_ = s.Send(ctx, Envelope{Event: "error", Data: e, Ref: e.Ref}, Ephemeral())
}

// enqueue assigns the next seq (unless ephemeral), keeps the body for resume and hands it to the
// writer. It never blocks: a full queue closes the connection with 1013.
func (s *Session) enqueue(body []byte, ephemeral bool, pid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateGone:
		return
	case stateAdopting: // numbered once the handover's tail is in (node_handover.go)
		if !ephemeral {
			s.pending = append(s.pending, replayEntry{body: body, pid: pid})
		}
		return
	}
	var seq uint64
	if !ephemeral && s.buf.max > 0 {
		s.seq++
		seq = s.seq
		s.buf.add(seq, body, s.node.clock.Now(), pid)
	}
	a := s.att
	if a == nil {
		return
	}
	select {
	case a.q <- outFrame{seq: seq, body: body}:
		s.node.stats.delivered.Add(1)
	default:
		if a.kill(StatusTryAgainLater, "slow consumer") {
			s.node.stats.slowConsumers.Add(1)
			s.node.log.Warn("slow consumer: closing with 1013", "session", s.id, "user", s.user.ID)
		}
	}
}

// killGrace is how long a killed connection's writer may finish its current write.
const killGrace = 2 * time.Second

// outFrame is one queued frame: a shared body and the seq to stamp on it (0: none).
type outFrame struct {
	seq  uint64
	body []byte
}

// attachment is one Conn bound to a session, with its queue and writer goroutine.
type attachment struct {
	conn  Conn
	q     chan outFrame
	pre   []outFrame // written before the queue: session, replay, resumed
	stop  chan struct{}
	drain chan struct{}
	done  chan struct{}

	// wctx bounds writes; it is cancelled when the writer exits, or a grace after kill so that
	// a writer stuck on a dead peer lets go.
	wctx    context.Context
	cancelW context.CancelFunc

	once      sync.Once
	drainOnce sync.Once
	code      atomic.Int32
	reason    atomic.Pointer[string]
	grace     *time.Timer
}

func newAttachment(c Conn, queue int) *attachment {
	a := &attachment{
		conn:  c,
		q:     make(chan outFrame, queue),
		stop:  make(chan struct{}),
		drain: make(chan struct{}),
		done:  make(chan struct{}),
	}
	a.wctx, a.cancelW = context.WithCancel(context.Background())
	return a
}

// kill asks the writer to close the connection with code. The first call wins and reports true.
func (a *attachment) kill(code StatusCode, reason string) (first bool) {
	a.once.Do(func() {
		first = true
		a.code.Store(int32(code))
		a.reason.Store(&reason)
		close(a.stop)
		// A writer blocked on a peer that does not read lets go after a grace: the write is
		// cancelled and the connection closed, which unblocks it.
		a.grace = time.AfterFunc(killGrace, func() {
			a.cancelW()
			_ = a.conn.Close(code, reason)
		})
	})
	return first
}

// shutdown asks the writer to flush the queue, then close with 1012.
func (a *attachment) shutdown() {
	a.drainOnce.Do(func() { close(a.drain) })
}

func (a *attachment) closeCode() (StatusCode, string) {
	c := StatusCode(a.code.Load())
	r := a.reason.Load()
	if r == nil {
		return c, ""
	}
	return c, *r
}

// writeLoop is the attachment's single writer. It owns the Conn's write side and closes it.
func (a *attachment) writeLoop(codec Codec) {
	defer close(a.done)
	defer a.cancelW()
	stamper, _ := codec.(SeqStamper)
	pw, _ := a.conn.(PrefixWriter)
	var prefix, joined []byte
	write := func(f outFrame) error {
		if f.seq == 0 || stamper == nil {
			return a.conn.Write(a.wctx, f.body)
		}
		var tail []byte
		prefix, tail = stamper.StampSeq(prefix, f.seq, f.body)
		if pw != nil {
			return pw.WritePrefixed(a.wctx, prefix, tail)
		}
		joined = append(append(joined[:0], prefix...), tail...)
		return a.conn.Write(a.wctx, joined)
	}
	fail := func() {
		a.kill(StatusInternalError, "write failed")
		code, reason := a.closeCode()
		_ = a.conn.Close(code, reason)
	}
	for _, f := range a.pre {
		if err := write(f); err != nil {
			fail()
			return
		}
	}
	a.pre = nil
	for {
		select {
		case f := <-a.q:
			if err := write(f); err != nil {
				fail()
				return
			}
		case <-a.stop:
			code, reason := a.closeCode()
			_ = a.conn.Close(code, reason)
			return
		case <-a.drain:
			for {
				select {
				case f := <-a.q:
					if err := write(f); err != nil {
						fail()
						return
					}
				default:
					a.kill(StatusServiceRestart, "server restarting")
					_ = a.conn.Close(StatusServiceRestart, "server restarting")
					return
				}
			}
		}
	}
}

// finish releases the attachment's timers once its writer has exited.
func (a *attachment) finish() {
	<-a.done
	a.once.Do(func() { close(a.stop) })
	if a.grace != nil {
		a.grace.Stop()
	}
}
