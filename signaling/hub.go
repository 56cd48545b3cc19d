package signaling

import (
	"context"

	"github.com/huddle-go/huddle/clock"
)

// Handler handles one client event, as http.Handler handles one request. Returning an *Error
// sends an `error` event to the session and keeps it; any other error is logged with the session
// id and sent as CodeInternal. A panic is recovered and treated as an internal error.
//
// Events of one session are handled one at a time, in the order they arrived; events of
// different sessions run concurrently.
type Handler interface {
	ServeEvent(ctx context.Context, s *Session, e Envelope) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, s *Session, e Envelope) error

// ServeEvent calls f(ctx, s, e).
func (f HandlerFunc) ServeEvent(ctx context.Context, s *Session, e Envelope) error {
	return f(ctx, s, e)
}

// SessionEvent is a change in a session's life, reported to OnSession hooks.
type SessionEvent int

// Session events, in the order a session can go through them.
const (
	// SessionConnected: a new session started; its `session` frame is queued. Hooks may send
	// catch-up events and subscribe the session to topics.
	SessionConnected SessionEvent = iota + 1
	// SessionDropped: the connection is gone but the session waits for a resume within its
	// window. It stays subscribed and buffers what it would have received.
	SessionDropped
	// SessionResumed: a dropped (or still attached) session was taken over by a new connection.
	SessionResumed
	// SessionGone: the session ended for good (a clean close, or its resume window passed).
	SessionGone
	// SessionMoved: the session was handed over to another node, where it goes on (with a
	// Resumed there). Release local state; announce no leave.
	SessionMoved
)

func (e SessionEvent) String() string {
	switch e {
	case SessionConnected:
		return "connected"
	case SessionDropped:
		return "dropped"
	case SessionResumed:
		return "resumed"
	case SessionGone:
		return "gone"
	case SessionMoved:
		return "moved"
	}
	return "unknown"
}

// SessionHook observes session changes. Hooks run synchronously, by Stage: a Connected hook's
// sends reach the client before anything the session's handlers send.
type SessionHook func(ctx context.Context, s *Session, ev SessionEvent)

// Stage orders the hooks of different services at session start, so that the first frames
// a client gets (PROTOCOL.md §3) do not depend on the order the services were created in.
// Hooks of a lower stage run first; within a stage, in registration order.
type Stage int

// The stages of a session start.
const (
	// StageSubscribe: subscribe the session to its topics (chat: the user's rooms).
	StageSubscribe Stage = 100
	// StageCatchUp: send what the session must know at once (meeting: active invitations).
	StageCatchUp Stage = 200
	// StageSnapshot: send current state (presence: the co-members' statuses).
	StageSnapshot Stage = 300
	// StageDefault: hooks registered with OnSession.
	StageDefault Stage = 400
)

// Hub is the part of *Node that the domain packages (chat, presence, meeting) use, all of it:
// they probe for nothing else. It is an interface so that a service can run against a Node
// wrapped by the application (to instrument Publish, say), not so that something else can
// replace the Node: the Sessions that handlers and hooks receive are made by a Node, and a
// wrapper hands its Node's through. All methods are safe for concurrent use.
type Hub interface {
	// Config describes the node, for a service to read once, when it is created.
	Config() Config
	// Session returns a session this node holds (attached or waiting for a resume), or nil.
	Session(id string) *Session
	// Handle registers the handler for an event name; an event that has one already is an
	// error wrapping ErrHandled (see Node.Handle).
	Handle(event string, h Handler) error
	// OnSessionAt registers a hook for session changes at a stage.
	OnSessionAt(stage Stage, f SessionHook)
	// Subscribe adds one session, on whichever node holds it, to topics.
	Subscribe(ctx context.Context, sessionID string, topics ...string) error
	// Unsubscribe removes one session from a topic.
	Unsubscribe(ctx context.Context, sessionID, topic string) error
	// SubscribeUser adds every current session of a user, on every node, to a topic.
	SubscribeUser(ctx context.Context, userID, topic string) error
	// UnsubscribeUser removes every session of a user from a topic.
	UnsubscribeUser(ctx context.Context, userID, topic string) error
	// Publish encodes e once and delivers it to every session subscribed to topic.
	Publish(ctx context.Context, topic string, e Envelope, opts ...PublishOption) error
}

// Config is what a Node tells the services built on it about itself (Hub.Config): a value that a
// service reads once, when it is created, to fill in its defaults.
type Config struct {
	// NodeID names the node among the nodes sharing a Broker (NodeOptions.ID).
	NodeID string
	// Clock is the node's clock, which services share for their timers (NodeOptions.Clock).
	Clock clock.Clock
	// Limits are the limits advertised to clients (NodeOptions.Limits, defaults filled in).
	Limits Limits
	// ICEServers returns the STUN/TURN servers for a user, with TURN credentials when
	// configured (NodeOptions.ICE): what the `session` event lists.
	ICEServers func(userID string) []ICEServer
}

// PublishOption refines a Publish or a Session.Send.
type PublishOption func(*publishOptions)

type publishOptions struct {
	exceptSession string
	exceptUser    string
	onlyUser      string
	ephemeral     bool
	id            string
}

// ExceptSession skips one session (for example, the sender of an event).
func ExceptSession(id string) PublishOption { return func(o *publishOptions) { o.exceptSession = id } }

// ExceptUser skips every session of one user.
func ExceptUser(id string) PublishOption { return func(o *publishOptions) { o.exceptUser = id } }

// OnlyUser delivers only to the sessions of one user among the topic's subscribers.
func OnlyUser(id string) PublishOption { return func(o *publishOptions) { o.onlyUser = id } }

// Ephemeral marks an event that carries no `seq` and is not replayed on resume (typing, pong).
func Ephemeral() PublishOption { return func(o *publishOptions) { o.ephemeral = true } }

// PublishID names a publish: a node delivers the events of one topic that carry the same id at
// most once (among the last 8192 it received). A caller that publishes again after a failure
// whose outcome it cannot know (a deadline on a stalled broker, which may still run the first
// publish) gives both publishes the same id, so that subscribers get the event once. Without it
// each publish gets an id of its own.
func PublishID(id string) PublishOption { return func(o *publishOptions) { o.id = id } }

func collect(opts []PublishOption) publishOptions {
	var o publishOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}
