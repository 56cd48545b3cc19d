package ws

import "github.com/huddle-go/huddle/signaling"

// ClientHook sits between a Client's connections and its Events, for what a domain adds to the
// Go client: it sees each event the client accepted (once, in order), decides what reaches
// Events, and may send events of its own. chat/wschat.Resync is one: it re-syncs chat rooms
// after a refused resume. A Client calls its methods from its reader goroutine only, one at a
// time; a hook serves one Client.
type ClientHook interface {
	// Reconnected is called when a reconnect has its session, after ClientOptions.OnSession
	// and OnResumeFailed and before the connection's events are read; resumed tells whether the
	// old session was resumed. It returns the events to send on the new connection.
	Reconnected(resumed bool) []signaling.Envelope
	// Receive is called with each event the client accepted. It returns the events for Events
	// (ev itself, others, or none) and the events to send back.
	Receive(ev Event) (deliver []Event, send []signaling.Envelope)
}
