// Package huddle is Huddle's front door and the map of its packages: a Go library for
// real-time communication inside your own application — chat rooms with typing indicators and
// presence, and WebRTC video meetings in a peer-to-peer mesh whose signaling (offer, answer, ICE
// candidates) the server relays — all over one native WebSocket.
//
// New builds a Server: a signaling.Node with the chat, presence and meeting services on it,
// every link between them made (who is online, leaving a room leaves its meeting, a dead node's
// users leave their meetings, stored meetings recovered at start), and the WebSocket endpoint
// (Server.Handler). Options take the stores and the broker as interfaces (nil: memory) and pass
// each part's tuning through. The packages below stay public for those who assemble the parts
// themselves.
//
// # Packages
//
//   - signaling: the transport-agnostic core. Envelope and Codec (JSON {"event","data"} and the
//     original client's {"event","payload"}), Conn, the Hub interface and its implementation
//     Node (sessions with bounded queues, ordered handlers, resume with per-session seq), Broker
//     (memory; Redis in signaling/redisbroker), Authenticator (dev; JWT in signaling/jwtauth),
//     client-facing Error codes, ICE/TURN configuration.
//   - signaling/ws: the WebSocket transport (Handler, Dial) and a reconnecting Go Client;
//     chat/wschat is its chat side (Resync: no message lost across a server restart).
//   - signaling/signalingtest: an in-memory Conn pair and a test client for your own handlers.
//   - chat: rooms, messages, history, typing (Store and Membership; chat/redischat on Redis,
//     chat/sqlchat on SQLite and PostgreSQL).
//   - presence: online/away/offline across tabs and nodes (presence/redispresence on Redis).
//   - meeting: mesh meetings: start/join/leave/stop, graces, host policy, the video-signal
//     relay (meeting/redismeeting on Redis, meeting/sqlmeeting on SQLite); meeting/peer is a
//     headless Pion peer for tests and bots.
//   - web: the browser client (chat, presence, meetings in one page) as an http.Handler.
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
// The package's Example (example_test.go, run by go test) is the README's quick start:
//
//	srv, err := huddle.New(ctx, &huddle.Options{Authenticator: jwtauth.New(secret, nil)})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle("/ws", srv.Handler())                                    // the WebSocket endpoint
//	mux.Handle("/", web.Handler(&web.Options{SignIn: web.SignInToken})) // the browser client
//	...
//	_ = httpServer.Shutdown(ctx) // first: it does not wait for WebSockets
//	_ = srv.Shutdown(ctx)        // sessions closed with 1012, then the services
//
// To run several nodes, give each the same Redis: redisbroker.New for Options.Broker, and the
// redischat, redispresence and redismeeting stores (see examples/server/backends.go).
package huddle
