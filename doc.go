// Package huddle is the map of Huddle: a Go library for real-time communication inside your own
// application — chat rooms with typing indicators and presence, and WebRTC video meetings in a
// peer-to-peer mesh whose signaling (offer, answer, ICE candidates) the server relays — all over
// one native WebSocket. This package holds no code; the packages below do.
//
// # Packages
//
//   - signaling: the transport-agnostic core. Envelope and Codec (JSON {"event","data"} and the
//     original client's {"event","payload"}), Conn, the Hub interface and its implementation
//     Node (sessions with bounded queues, ordered handlers, resume with per-session seq), Broker
//     (memory; Redis in signaling/redisbroker), Authenticator (dev; JWT in signaling/jwtauth),
//     client-facing Error codes, ICE/TURN configuration.
//   - signaling/ws: the WebSocket transport (Handler, Dial) and a reconnecting Go Client.
//   - signaling/signalingtest: an in-memory Conn pair and a test client for your own handlers.
//   - chat: rooms, messages, history, typing (Store and Membership; chat/redischat on Redis).
//   - presence: online/away/offline across tabs and nodes (presence/redispresence on Redis).
//   - meeting: mesh meetings: start/join/leave/stop, graces, host policy, the video-signal
//     relay (meeting/redismeeting on Redis); meeting/peer is a headless Pion peer for tests and
//     bots.
//   - examples/server: the reference server, with a browser client; examples/peer: a bot.
//
// # Protocol in brief
//
// Clients send {"event": "message", "data": {"roomId": "r1", "content": "hi"}, "ref": "1"}; the
// server answers with events such as {"event": "message", "data": {...}, "seq": 7}. The first
// frame is `session` (id, resume token, ICE servers, limits). Errors are `error {code, message}`
// events and leave the connection open. A client that reconnects with ?resume=<token>&lastSeq=<n>
// within 60 s gets what it missed, exactly once. The full contract is docs/PROTOCOL.md.
//
// # Quick start
//
//	node := signaling.NewNode(nil)
//	rooms := chat.NewMemoryStore(nil)
//	var tracker *presence.Tracker // created last: its snapshot follows the catch-up invitations
//	online := chat.OnlineFunc(func(ctx context.Context, ids []string) ([]string, error) {
//		return tracker.Online(ctx, ids)
//	})
//	if _, err := chat.New(node, &chat.Options{Store: rooms, Membership: rooms, Online: online}); err != nil {
//		log.Fatal(err) // each New returns an error when a required option is missing
//	}
//	if _, err := meeting.New(node, &meeting.Options{Members: rooms, Online: online}); err != nil {
//		log.Fatal(err)
//	}
//	var err error
//	if tracker, err = presence.New(node, &presence.Options{Rooms: rooms}); err != nil {
//		log.Fatal(err)
//	}
//	http.Handle("/ws", ws.Handler(node, &ws.Options{Authenticator: jwtauth.New(secret, nil)}))
//
// To run several nodes, give each the same Redis: redisbroker.New for the Node's Broker and the
// redischat, redispresence and redismeeting stores (see examples/server/backends.go).
package huddle
