package signaling

import (
	"context"
	"reflect"
	"sync"
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

	start *startMemo // during a start's hooks (hookMu held): what they share

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
// `seq` and is replayed on resume. ExceptSession, ExceptUser and OnlyUser filter as they do for
// Publish: an event they exclude this session from is not sent.
//
// Send is for a session's own replies and start frames: while the session's queue is over its
// bound (NodeOptions.QueueBytes) it waits for the writer, so a client that floods requests is
// slowed down rather than disconnected. It returns ctx's error if ctx ends first. Deliveries to
// other sessions go through Publish (SessionTopic), which never waits.
func (s *Session) Send(ctx context.Context, e Envelope, opts ...PublishOption) error {
	o := collect(opts)
	if o.exceptSession == s.id || o.exceptUser == s.user.ID || (o.onlyUser != "" && o.onlyUser != s.user.ID) {
		return nil
	}
	body, err := s.codec.Encode(e)
	if err != nil {
		return err
	}
	return s.reply(ctx, body, o.ephemeral)
}

// Reply sends event with data to this session, echoing req's ref.
func (s *Session) Reply(ctx context.Context, req Envelope, event string, data any) error {
	return s.Send(ctx, Envelope{Event: event, Data: data, Ref: req.Ref})
}

// Close closes the session's current connection with code, after writing what is queued for it
// (for at most two seconds). StatusNormalClosure and StatusPolicyViolation end the session at
// once; any other code leaves it waiting for a resume.
func (s *Session) Close(code StatusCode, reason string) {
	s.mu.Lock()
	a := s.att
	s.mu.Unlock()
	if a != nil {
		a.close(code, reason, true)
	}
	if code == StatusNormalClosure || code == StatusPolicyViolation {
		// The end of the session, not just of this connection: no resume window.
		s.node.endSession(s)
	}
}

func (s *Session) sendError(ctx context.Context, e *Error) {
	_ = s.Send(ctx, Envelope{Event: "error", Data: e, Ref: e.Ref}, Ephemeral())
}

// number assigns the next seq (unless ephemeral) and keeps the body for resume; s.mu is held.
// It returns the frame to queue and the attachment to queue it on (nil: none).
func (s *Session) numberLocked(body []byte, ephemeral bool, pid string, now time.Time) (outFrame, *attachment) {
	switch s.state {
	case stateGone:
		return outFrame{}, nil
	case stateAdopting: // numbered once the handover's tail is in (node_handover.go)
		if !ephemeral {
			s.pending = append(s.pending, replayEntry{body: body, pid: pid})
		}
		return outFrame{}, nil
	}
	var seq uint64
	if !ephemeral && s.buf.max > 0 {
		s.seq++
		seq = s.seq
		s.buf.add(seq, body, now, pid)
	}
	return outFrame{seq: seq, body: body}, s.att
}

// enqueue delivers a broadcast body. It never blocks: a queue pushed past its bound closes
// the connection with 1013 (the session waits for a resume, its buffer intact). The seq is
// assigned and the frame queued in one critical section, so that frames go out in seq order.
// now is the delivery's time (read once for all its sessions), for the resume buffer.
func (s *Session) enqueue(body []byte, ephemeral bool, pid string, now time.Time) {
	s.mu.Lock()
	f, a := s.numberLocked(body, ephemeral, pid, now)
	ok, first := true, false
	if a != nil {
		ok, first = a.offer(f)
	}
	s.mu.Unlock()
	switch {
	case a == nil:
	case ok:
		s.node.stats.delivered.Add(1)
	case first:
		s.node.stats.slowConsumers.Add(1)
		s.node.log.Warn("slow consumer: closing with 1013", "session", s.id, "user", s.user.ID)
	}
}

// reply queues a body of the session's own, first waiting for room in the queue.
func (s *Session) reply(ctx context.Context, body []byte, ephemeral bool) error {
	s.mu.Lock()
	a := s.att
	s.mu.Unlock()
	if a != nil {
		if err := a.waitRoom(ctx, len(body)+frameOverhead); err != nil {
			return err
		}
	}
	s.mu.Lock()
	f, a := s.numberLocked(body, ephemeral, "", s.node.clock.Now())
	if a != nil {
		a.push(f)
	}
	s.mu.Unlock()
	if a != nil {
		s.node.stats.delivered.Add(1)
	}
	return nil
}

// startMemo is shared by the hooks of one session start: the values of StartValue, by key.
type startMemo []startEntry

type startEntry struct {
	key any
	v   any
	err error
}

// StartValue returns, during the hooks of a session start (SessionConnected or SessionResumed),
// the value that load returned to the first hook of that start asking for key: services that
// need the same data at every start read it once per start, however many they are (chat,
// presence and meeting each need the user's rooms; they pass the membership store they read as
// key, so that services wired to one store share one read). Outside a start's hooks, and for a
// key that is not comparable, it calls load. A shared value must not be modified.
func (s *Session) StartValue(key any, load func() (any, error)) (any, error) {
	m := s.start // written and read only by the goroutine running the hooks
	if m == nil || key == nil || !reflect.ValueOf(key).Comparable() {
		return load()
	}
	for _, e := range *m {
		if e.key == key {
			return e.v, e.err
		}
	}
	v, err := load()
	*m = append(*m, startEntry{key: key, v: v, err: err})
	return v, err
}
