// Package chat is Huddle's room chat: joining and leaving rooms, messages with history, and
// typing indicators, as events on a signaling.Hub (PROTOCOL.md §5).
//
// Start with New, which registers the handlers on a hub (a *signaling.Node) and a session hook:
//
//	node := signaling.NewNode(nil)
//	store := chat.NewMemoryStore(nil)
//	svc, err := chat.New(node, &chat.Options{Store: store, Membership: store})
//	defer svc.Close()
//
// The Service handles these client events:
//
//   - join_room {roomId} → room_joined {roomId, members, online}. The Policy decides (OpenRooms
//     by default). Membership belongs to the user: every session of the user, on every node, is
//     subscribed to the room now, and every later session at its start.
//   - leave_room {roomId} → room_left {roomId}; the user's sessions stop receiving the room.
//   - message {roomId, content, clientMsgId?}: the server stamps id (a UUIDv7), sender and
//     times, stores the message, then publishes `message` to every session of every member, the
//     sender's included (that copy is the acknowledgement). A sender who is not a member joins
//     first through the Policy, unless Options.RequireJoin is set. A clientMsgId repeated by the
//     same user within 24 h stores nothing and sends the stored message again to the sending
//     session only.
//   - get_history {roomId, before?, limit?} → history {roomId, messages, hasMore}, members only.
//   - typing {roomId, isTyping} → typing {roomId, user, isTyping} to the other users' sessions in
//     the room, never persisted. A true is forwarded at most once per TypingThrottle per user and
//     room (one that comes sooner waits for the end of the window); a false is forwarded at once.
//     The server sends false itself after TypingTimeout without a true, when the user sends a
//     message or leaves the room, and when the session that typed drops or ends.
//   - get_rooms {} → rooms {rooms} (an extension): the user's rooms.
//
// Bad input is answered with an `error` event (bad_request, forbidden, not_found, too_large);
// the session goes on. Store failures that wrap signaling.ErrUnavailable reach the client as
// `unavailable`.
//
// Messages live in a Store and memberships in a Membership. MemoryStore implements both for one
// node; chat/redischat implements them on Redis for several nodes. Other packages connect to
// the same rooms through small interfaces of their own that the Membership satisfies.
//
// Service, MemoryStore and every Store or Membership are safe for concurrent use.
package chat
