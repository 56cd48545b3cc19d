// Package signaling is the transport-agnostic core of Huddle: sessions over any connection,
// events routed to handlers, and encoded-once delivery through a pluggable Broker.
//
// # Where to start
//
// Create a Node (NewNode; nil options are fine), register handlers for your events with
// Node.Handle, and hand it connections: signaling/ws.Handler does that for WebSockets, and
// signalingtest.Connect for tests. The domain packages (chat, presence, meeting) depend only on
// the Hub interface, which *Node implements.
//
// # How the types fit
//
//   - A Conn carries frames; a Codec turns them into Envelopes ({"event","data","ref"}) and back.
//   - Node.Serve runs one Session per connection: it sends the `session` frame, runs the
//     OnSession hooks, then reads frames, decodes each once, applies the per-session rate limit
//     and calls the Handler registered for the event. A Handler returning an *Error sends an
//     `error` event; the session goes on.
//   - Node.Publish encodes an event once and hands it to the Broker; every Node subscribed to
//     the topic queues the same bytes to its sessions. Topics: UserTopic, SessionTopic,
//     RoomTopic, MeetingTopic.
//   - Each session has one bounded outbound queue drained by one writer goroutine; a full queue
//     closes the connection with 1013 and never slows anyone else. Replayable events carry a
//     per-session `seq`, stamped as a prefix in front of the shared body, and are kept (shared,
//     not copied) in a bounded buffer for resume.
//   - A dropped session waits ResumeWindow for the client to come back with its resume token and
//     last seq, and then replays exactly what it missed. With a shared Broker and
//     HandoverTimeout, a session can even resume on another node.
//
// # Concurrency
//
// Node, Session, MemoryBroker and the codecs are safe for concurrent use. Events of one session
// are handled one at a time, in order; hooks of one session are serialized (Dropped before
// Resumed). Node.Shutdown stops intake, flushes the queues and closes every session with 1012.
package signaling
