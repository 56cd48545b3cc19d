package presence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// chatRooms stands in for chat's membership store: room id → members.
type chatRooms map[string][]signaling.User

func (r chatRooms) Rooms(_ context.Context, userID string) ([]string, error) {
	var out []string
	for id, members := range r {
		for _, m := range members {
			if m.ID == userID {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func (r chatRooms) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	return r[roomID], nil
}

// dial runs a session for u over an in-memory connection and returns the client's end.
func dial(node *signaling.Node, u signaling.User) signaling.Conn {
	server, client := signalingtest.Pipe()
	go func() { _ = node.Serve(context.Background(), server, u, nil) }()
	return client
}

// next reads frames until one of event arrives and returns its data.
func next(c signaling.Conn, event string) json.RawMessage {
	for {
		frame, err := c.Read(context.Background())
		if err != nil {
			panic(err)
		}
		var f struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(frame, &f); err != nil {
			panic(err)
		}
		if f.Event == event {
			return f.Data
		}
	}
}

func Example() {
	alice := signaling.User{ID: "alice", Username: "Alice"}
	bob := signaling.User{ID: "bob", Username: "Bob"}

	node := signaling.NewNode(nil)
	defer func() { _ = node.Shutdown(context.Background()) }()
	rooms := chatRooms{"lobby": {alice, bob}}
	// Presence publishes to the topics of the user's rooms; chat subscribes each session to
	// them. Without chat, do it yourself, before the Tracker's hook runs.
	node.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionConnected {
			ids, _ := rooms.Rooms(ctx, s.User().ID)
			for _, r := range ids {
				_ = node.Subscribe(ctx, s.ID(), chat.RoomTopic(r))
			}
		}
	})
	tracker, err := presence.New(node, &presence.Options{Rooms: rooms, RoomTopic: chat.RoomTopic})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = tracker.Close() }()

	type entry struct {
		User     signaling.User `json:"user"`
		Status   string         `json:"status"`
		LastSeen string         `json:"lastSeen"`
	}

	bobConn := dial(node, bob)
	var snap struct{ Users []entry }
	_ = json.Unmarshal(next(bobConn, "presence_snapshot"), &snap)
	for _, e := range snap.Users {
		fmt.Printf("bob's snapshot: %s is %s\n", e.User.Username, e.Status)
	}

	aliceConn := dial(node, alice) // a first session: alice comes online
	var e entry
	_ = json.Unmarshal(next(bobConn, "presence"), &e)
	fmt.Printf("bob sees: %s is %s\n", e.User.Username, e.Status)

	_ = aliceConn.Close(signaling.StatusNormalClosure, "bye") // her last session ends
	_ = json.Unmarshal(next(bobConn, "presence"), &e)
	fmt.Printf("bob sees: %s is %s (lastSeen given: %t)\n", e.User.Username, e.Status, e.LastSeen != "")

	online, _ := tracker.Online(context.Background(), []string{"alice", "bob"})
	fmt.Println("online:", online)
	// Output:
	// bob's snapshot: Alice is offline
	// bob sees: Alice is online
	// bob sees: Alice is offline (lastSeen given: true)
	// online: [bob]
}
