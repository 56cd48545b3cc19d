package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// Wire chat onto a node, connect a client over an in-memory pipe, join a room and post.
func ExampleNew() {
	node := signaling.NewNode(nil)
	store := chat.NewMemoryStore(nil)
	svc, err := chat.New(node, &chat.Options{Store: store, Membership: store})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	server, client := signalingtest.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = node.Serve(context.Background(), server, signaling.User{ID: "u1", Username: "Ada"}, nil)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	send := func(frame string) { _ = client.Write(ctx, []byte(frame)) }
	next := func() (event string, data json.RawMessage) {
		b, err := client.Read(ctx)
		if err != nil {
			return "", nil
		}
		var f struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal(b, &f)
		return f.Event, f.Data
	}

	event, _ := next()
	fmt.Println(event)

	send(`{"event":"join_room","data":{"roomId":"lobby"},"ref":"1"}`)
	event, data := next()
	fmt.Println(event, string(data))

	send(`{"event":"message","data":{"roomId":"lobby","content":"hello"}}`)
	event, data = next()
	var m chat.Message
	_ = json.Unmarshal(data, &m)
	fmt.Println(event, m.Sender.Username, m.Content)

	_ = client.Close(signaling.StatusNormalClosure, "")
	<-served
	_ = node.Shutdown(ctx)
	// Output:
	// session
	// room_joined {"roomId":"lobby","members":[{"id":"u1","username":"Ada"}],"online":[]}
	// message Ada hello
}
