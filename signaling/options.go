package signaling

import (
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/huddle-go/huddle/clock"
)

// NodeOptions configures a Node. The zero value of each field means its default.
type NodeOptions struct {
	// ID names this node among the nodes sharing a Broker. Default: random.
	ID string
	// Codec is the default codec for sessions that negotiate none. Default: JSON.
	Codec Codec
	// Broker moves events between sessions (and nodes). Default: a new MemoryBroker.
	Broker Broker
	// Logger receives the node's logs; per-session events are logged at Debug. Default: silent.
	Logger *slog.Logger
	// QueueBytes bounds each connection's outbound queue, in bytes (each frame counts its
	// length plus 64). Broadcasts that would push it past the bound close the connection with
	// 1013 (slow consumer); the session's own replies instead wait for room (at most half the
	// bound), which slows its reader down. Default: 1 MiB.
	QueueBytes int
	// RateLimit is each session's sustained event rate per second, charged when a frame
	// arrives. Default: 50.
	RateLimit float64
	// RateBurst is each session's token-bucket burst. Default: 100.
	RateBurst int
	// FloodTimeout is how long a session may keep sending over its rate before it is closed
	// with 1008: every refill period (1/RateLimit) within it gets one `rate_limited` error, the
	// other excess frames are dropped (Stats.RateLimited). Default: 10 s.
	FloodTimeout time.Duration
	// MaxSessionsPerUser bounds the sessions one user holds on this node, attached or waiting
	// for a resume. A new session beyond it evicts the user's oldest dropped session, or, when
	// all are attached, the oldest one (closed with 1008). Default: 16.
	MaxSessionsPerUser int
	// MaxPendingEvents bounds the client events of one name (`message`, `join_room`…) that the
	// node holds queued for its dispatchers or being handled. One more is answered
	// `unavailable` with retryAfterMs at once, without reaching its handler: a node past what
	// it can carry (a slow store, a saturated core) refuses new work instead of queueing it
	// until it times out. Default: 512; negative: no bound.
	MaxPendingEvents int
	// BrokerTimeout bounds each Broker call made for a client's request or a session's start;
	// a call that takes longer fails, and the client gets `unavailable`. Default: 5 s.
	BrokerTimeout time.Duration
	// ResumeWindow is how long a dropped session waits for a resume. Default: 60 s; negative
	// disables resume (a drop ends the session at once and events carry no seq).
	ResumeWindow time.Duration
	// ResumeBuffer bounds the events kept per session for resume. Default: 1000.
	ResumeBuffer int
	// ResumeBufferBytes bounds the bytes of the events kept per session for resume (bodies
	// shared with other sessions count in full). Default: 1 MiB.
	ResumeBufferBytes int
	// ResumeSecret signs resume tokens. Nodes sharing a Broker must share it, and a node that
	// restarts must keep it, or its clients' tokens are refused (401) and they start afresh.
	// Default: random, per process.
	ResumeSecret []byte
	// HandoverTimeout enables cross-node resume for nodes sharing a Broker: a client resuming a
	// session held by another node gets it handed over (subscriptions, buffered events and all),
	// waiting at most this long for the holder to answer. Default: DefaultHandoverTimeout (2 s)
	// when the Broker is a CrossProcessBroker that says so (signaling/redisbroker) and resume is
	// on; else, and when negative, off: a session held elsewhere is not looked for and the client
	// starts afresh (right for one node; nodes sharing a MemoryBroker in one process set it).
	HandoverTimeout time.Duration
	// ShutdownHandover is how long Shutdown keeps the sessions it closed with 1012 available
	// for a handover to the node their clients reconnect to; it needs HandoverTimeout. Default:
	// DefaultShutdownHandover (5 s) on a CrossProcessBroker with handover on; else, and when
	// negative, not at all.
	ShutdownHandover time.Duration
	// ICE lists the STUN/TURN servers sent in the `session` event.
	ICE ICEConfig
	// Limits are advertised in the `session` event.
	Limits Limits
	// Clock drives the resume windows and token expiry. Default: the wall clock.
	Clock clock.Clock
}

// Defaults of NodeOptions.HandoverTimeout and ShutdownHandover on a CrossProcessBroker.
const (
	DefaultHandoverTimeout  = 2 * time.Second
	DefaultShutdownHandover = 5 * time.Second
)

// Limits are the size limits advertised to clients in the `session` event.
type Limits struct {
	MaxFrameBytes      int `json:"maxFrameBytes"`      // default 65536
	MaxMessageBytes    int `json:"maxMessageBytes"`    // default 4096
	MaxRoomsPerSession int `json:"maxRoomsPerSession"` // default 100
}

// SessionOptions describes one connection handed to Serve.
type SessionOptions struct {
	// Codec for this session. Default: the node's codec.
	Codec Codec
	// Expires closes the session with 1008 when it passes (the credentials' expiry). Zero: never.
	Expires time.Time
	// ResumeToken and LastSeq ask to resume an earlier session (PROTOCOL.md §4).
	ResumeToken string
	LastSeq     uint64
}

// withDefaults returns o with every zero field set to its default.
func (o NodeOptions) withDefaults() NodeOptions {
	if o.ID == "" {
		o.ID = randomID()
	}
	if o.Codec == nil {
		o.Codec = JSON
	}
	if o.Broker == nil {
		o.Broker = NewMemoryBroker()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 1 << 20
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 50
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 100
	}
	if o.FloodTimeout <= 0 {
		o.FloodTimeout = 10 * time.Second
	}
	if o.MaxSessionsPerUser <= 0 {
		o.MaxSessionsPerUser = 16
	}
	if o.MaxPendingEvents == 0 {
		o.MaxPendingEvents = 512
	}
	if o.BrokerTimeout <= 0 {
		o.BrokerTimeout = 5 * time.Second
	}
	if o.ResumeWindow == 0 {
		o.ResumeWindow = 60 * time.Second
	}
	if cp, ok := o.Broker.(CrossProcessBroker); ok && cp.CrossProcess() && o.ResumeWindow > 0 {
		if o.HandoverTimeout == 0 {
			o.HandoverTimeout = DefaultHandoverTimeout
		}
		if o.HandoverTimeout > 0 && o.ShutdownHandover == 0 {
			o.ShutdownHandover = DefaultShutdownHandover
		}
	}
	if o.ResumeBuffer <= 0 {
		o.ResumeBuffer = 1000
	}
	if o.ResumeBufferBytes <= 0 {
		o.ResumeBufferBytes = 1 << 20
	}
	if len(o.ResumeSecret) == 0 {
		o.ResumeSecret = make([]byte, 32)
		_, _ = rand.Read(o.ResumeSecret)
	}
	if o.Limits.MaxFrameBytes <= 0 {
		o.Limits.MaxFrameBytes = 64 << 10
	}
	if o.Limits.MaxMessageBytes <= 0 {
		o.Limits.MaxMessageBytes = 4096
	}
	if o.Limits.MaxRoomsPerSession <= 0 {
		o.Limits.MaxRoomsPerSession = 100
	}
	o.Clock = clock.Or(o.Clock)
	return o
}
