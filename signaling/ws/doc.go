// Package ws is the WebSocket transport of Huddle, on github.com/coder/websocket: the server
// endpoint (Handler) that runs sessions of a *signaling.Node, and the Go clients (Dial, Connect).
//
// # Server
//
// Mount Handler where browsers connect (the reference server uses /ws):
//
//	node := signaling.NewNode(nil)
//	h, err := ws.Handler(node, &ws.Options{Authenticator: jwtauth.New(secret, nil)})
//	if err != nil {
//		return err // no Authenticator, or a malformed origin pattern
//	}
//	http.Handle("/ws", h)
//
// (The root package huddle builds the Node, the services and this handler in one call.)
//
// Everything that can fail is checked before the upgrade, so that a refused client gets a plain
// HTTP answer with a JSON body {"error","message"}: authentication (401), `resume` and `lastSeq`
// (401, 400), the codec (400) and the Origin (403). The codec comes from the subprotocol
// "huddle.v1.<codec>" (json, json-payload, or any registered with signaling.RegisterCodec), or
// from `?codec=` for clients that cannot set one, or Options.DefaultCodec. After the upgrade
// the handler runs Node.Serve until the connection ends: frames over Options.ReadLimit close it
// with 1009, and a ping every 25 s whose pong is 10 s late drops it (its session then waits for
// a resume). Node.Shutdown closes every connection with 1012.
//
// # Clients
//
// Dial returns a raw signaling.Conn that speaks the wire protocol, for tests and tools;
// signalingtest.NewClient turns it into a test client with Expect. Connect returns a *Client
// that waits for the `session` frame, decodes events, and (with ClientOptions.Reconnect)
// reconnects with backoff and resumes its session, delivering every event once and in order.
// When a resume is refused (`resumed: false`: the node died, the server restarted, the window
// passed), what the old session had is gone; a ClientHook (ClientOptions.Hook) can re-sync it,
// as chat/wschat.Resync does for chat rooms, so that a chat user loses no message.
//
// # Concurrency
//
// Handler is safe for concurrent use. A Conn from Dial is read from one goroutine; its Write
// and Close are safe for concurrent use. Every method of a *Client is safe for concurrent use.
package ws
