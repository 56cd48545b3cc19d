package redispresence_test

import (
	"context"
	"log"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/presence/redispresence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// membership stands in for chat's membership store.
type membership map[string][]signaling.User

func (m membership) Rooms(_ context.Context, userID string) ([]string, error) {
	var out []string
	for id, members := range m {
		for _, u := range members {
			if u.ID == userID {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func (m membership) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	return m[roomID], nil
}

// Every node of a cluster runs a Tracker on the same Redis and prefix, with its own node id.
// Users of a node that dies go offline when its deadline passes.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer func() { _ = rdb.Close() }()

	store, err := redispresence.New(context.Background(), rdb, &redispresence.Options{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err) // Redis does not answer
	}
	node := signaling.NewNode(&signaling.NodeOptions{ID: "node-1"})
	defer func() { _ = node.Shutdown(context.Background()) }()
	tracker, err := presence.New(node, &presence.Options{
		Store:     store,
		Rooms:     membership{"lobby": {{ID: "alice"}, {ID: "bob"}}},
		RoomTopic: chat.RoomTopic,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = tracker.Close() }()

	// Serve WebSocket sessions on node (signaling/ws), then ask who is online:
	online, err := tracker.Online(context.Background(), []string{"alice", "bob"})
	if err != nil {
		log.Print(err) // wraps signaling.ErrUnavailable while Redis is down
		return
	}
	log.Print("online: ", online)
}
