// Package signaling is the transport-agnostic core of Huddle: sessions over any connection,
// events routed to handlers, and encoded-once delivery through a pluggable Broker.
//
// # Where to start
//
// Create a Node (NewNode; nil options are fine), register handlers for your events with
// Node.Handle, and hand it connections: signaling/ws.Handler does that for WebSockets, and
// signalingtest.Connect for tests.
//
// # The core contract: *Node, through Hub
//
// The domain packages (chat, presence, meeting) take a Hub: the methods of *Node they act with
// (handlers, session hooks, subscriptions, publishing), all of them declared, none probed, and
// Config, the node's id, clock, limits and ICE servers, which a service reads once when it is
// created. Hub is an interface so that an application can wrap its Node (to instrument
// Publish, say); it is not meant to be implemented from scratch, because the Sessions that
// handlers and hooks receive are made by a Node. In practice: pass your *Node. The package
// knows no chat and no meeting: their topics (chat.RoomTopic, meeting.Topic) are theirs.
//
// # How the types fit (and where they live)
//
//   - options.go: NodeOptions (queue and rate limits, resume, per-user limits, clock).
//   - node.go: Node, its handlers and session hooks. Hooks register at a Stage
//     (OnSessionAt): at a session start chat subscribes (StageSubscribe), meeting catches up
//     (StageCatchUp), presence sends its snapshot (StageSnapshot), whatever order the services
//     were created in; the hooks of one start share one read of the user's rooms
//     (Session.StartValue).
//   - lifecycle.go: Node.Serve runs one Session per Conn: it queues the `session` frame and
//     starts the writer, runs the Connected (or Resumed) hooks, then reads frames.
//   - dispatch.go: each frame is charged to the session's rate limit when it arrives and
//     handled by the Handler registered for its event, one at a time, in order. Excess
//     frames get one `rate_limited` per refill period, the others are dropped; a flood longer
//     than FloodTimeout closes with 1008. A Handler returning an *Error sends an `error` event.
//   - writer.go: each connection has one outbound queue, bounded in bytes (QueueBytes).
//     Broadcasts past the bound close it with 1013; the session's own replies (Session.Send)
//     wait for room instead, slowing its reader. The writer runs while frames are queued,
//     writes each frame once (seq stamped into a reused buffer) and flushes a batch at once
//     when the Conn is a BatchWriter. Closes with 1000, 1008 and 1012 write the queue first.
//   - topics.go: Node.Publish encodes an event once and hands it to the Broker; every Node
//     subscribed to the topic queues the same bytes to its sessions (UserTopic, SessionTopic,
//     and the domains' own). Subscription changes for sessions on other nodes wait for those
//     nodes with a CountingBroker.
//   - resume.go, node_handover.go: a dropped session waits ResumeWindow for its client to come
//     back with its resume token and last seq, and replays exactly what it missed, or nothing
//     (a fresh session) when it cannot; with HandoverTimeout (on by default on a
//     CrossProcessBroker such as signaling/redisbroker), even on another node, asked for over
//     broker subscriptions of the control plane's own (the handover topic and the node's).
//   - limits.go: at most MaxSessionsPerUser sessions per user and node.
//   - shutdown.go: Node.Shutdown stops intake, writes every queue and closes with 1012.
//
// # Concurrency
//
// Node, Session, MemoryBroker and the codecs are safe for concurrent use. Events of one session
// are handled one at a time, in order; hooks of one session are serialized (Dropped before
// Resumed). No lock is held across a Broker call.
package signaling
