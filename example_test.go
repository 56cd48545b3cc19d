package huddle_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

// Example is the README's quick start, run: a node with chat, meetings and presence behind a
// WebSocket handler, and a Go client that joins a room and sends a message.
func Example() {
	node := signaling.NewNode(nil)
	rooms := chat.NewMemoryStore(nil)
	// Any order: each service's session-start hooks declare their stage (PROTOCOL.md §3).
	tracker, err := presence.New(node, &presence.Options{Rooms: rooms})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := chat.New(node, &chat.Options{Store: rooms, Membership: rooms, Online: tracker}); err != nil {
		log.Fatal(err)
	}
	meetings, err := meeting.New(node, &meeting.Options{Members: rooms, Online: tracker})
	if err != nil {
		log.Fatal(err)
	}

	h, err := ws.Handler(node, &ws.Options{Authenticator: signaling.DevAuthenticator{}})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "?user=alice&name=Alice"
	c, err := ws.Connect(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("connected as", c.Session().User.Username)
	_ = c.Send(ctx, "join_room", map[string]string{"roomId": "lobby"})
	_ = c.Send(ctx, "message", map[string]string{"roomId": "lobby", "content": "hello"})
	for e := range c.Events() {
		if e.Event == "room_joined" || e.Event == "message" {
			fmt.Println(e.Event)
		}
		if e.Event == "message" {
			break
		}
	}
	_ = c.Close()
	_ = node.Shutdown(ctx)
	meetings.Close()
	tracker.Close()
	// Output:
	// connected as Alice
	// room_joined
	// message
}
