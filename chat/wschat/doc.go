// Package wschat is the chat side of the Go WebSocket client (signaling/ws.Client): Resync, a
// ws.ClientHook that fetches, after a refused resume, the chat messages of each room the client
// missed (`get_history {after}`, PROTOCOL.md §5) and delivers them before the room's live ones,
// so that a chat user of a Client loses no message across a server restart.
//
//	c, err := ws.Connect(ctx, url, &ws.ClientOptions{Reconnect: true, Hook: wschat.NewResync(nil)})
//
// A Resync serves one Client, which calls it from its reader goroutine.
package wschat
