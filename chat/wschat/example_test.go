package wschat_test

import (
	"context"

	"github.com/huddle-go/huddle/chat/wschat"
	"github.com/huddle-go/huddle/signaling/ws"
)

// A client that loses no chat message across a server restart: with a Resync hook, a refused
// resume is followed by a re-sync of every room the client got messages of.
func ExampleResync() {
	c, err := ws.Connect(context.Background(), "ws://127.0.0.1:8080/ws?user=alice&name=Alice", &ws.ClientOptions{
		Reconnect: true,
		Hook:      wschat.NewResync(nil),
	})
	if err != nil {
		return // no server in this example
	}
	defer c.Close()
	for ev := range c.Events() {
		switch ev.Event {
		case "message": // live, or missed while away: each once, in order per room
		case wschat.ResyncedEvent: // a room caught up (wschat.ResyncReport)
		}
	}
}
