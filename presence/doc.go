// Package presence tracks who is online across the nodes of a Huddle server and tells each user's
// co-members — the users sharing a room with it — when its status changes (PROTOCOL.md §6).
//
// Start with New: it hooks a Tracker into a signaling.Hub (a *signaling.Node), where it handles
// the client events `presence {status}` and `get_presence {roomId?}`, sends `presence_snapshot`
// at every session start and publishes `presence {user, status, lastSeen?}` when a user's
// aggregate status changed: once to the topic of each of the user's rooms, encoded once (one
// PUBLISH per room on Redis), so a co-member sharing two rooms with the user gets it twice,
// with the same content.
//
//	tracker, err := presence.New(node, &presence.Options{Rooms: membership, RoomTopic: chat.RoomTopic, Store: store})
//	defer tracker.Close()
//
// The pieces:
//
//   - Rooms is what presence asks about membership: a user's rooms and a room's members. chat's
//     membership store satisfies it; the server wires the two, so presence never imports chat.
//     Announcements go to Options.RoomTopic of each room (chat.RoomTopic), to which chat subscribes every
//     session of a member (at session start and at join_room); without chat, subscribe them
//     yourself in a hook at signaling.StageSubscribe, so it runs before presence sends its snapshot
//     (see the package Example).
//   - Store keeps every user's sessions, chosen status and last-seen time, shared by all nodes.
//     MemoryStore serves one process; presence/redispresence serves several. Store is small and
//     context-first, and internal/storetest holds its contract test.
//   - Tracker turns session events into Store calls and Store answers into events. Other
//     services ask it who is online with Online and Status.
//
// Semantics. A user may have any number of sessions (tabs, devices, nodes). It is online from its
// first session; a session whose connection dropped keeps it online for the Node's resume window,
// so a reload shows co-members nothing; it goes offline, with lastSeen (RFC 3339, milliseconds),
// when its last session is gone. A user may choose away (or online again) with `presence`; the
// choice lasts while the user has sessions.
//
// Dead nodes. Each Tracker renews its node's deadline in the Store every HeartbeatInterval and
// polls the Store for nodes whose deadline passed: their sessions are removed and their users go
// offline, announced by whichever node claimed them, within NodeTTL + HeartbeatInterval (25 s by
// default). A node that was cut off from the Store for longer finds at its next heartbeat that it
// was reaped and adds its sessions again, and so does a node whose Store lost them (a Redis
// flushed or restarted without persistence; see SessionCounter). Store calls and announcements
// that fail are logged and retried at the next heartbeat, so a Store outage delays changes but
// loses none. Every store and broker call has a deadline (Options.CallTimeout) and no lock is
// held across one: each user's changes run in order in a queue of their own.
//
// Other services react to changes through Options.OnChange or Tracker.OnChange, called on the
// node that made each change (also for a dead node's users): huddle.New lets
// meeting.Service.UserOffline release the meeting bindings of a user whose node died.
//
// All methods of Tracker and MemoryStore are safe for concurrent use.
package presence
