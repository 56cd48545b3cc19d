package redismeeting_test

import (
	"context"
	"log"
	"slices"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/redismeeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// membership stands in for chat's membership store.
type membership map[string][]signaling.User

func (m membership) IsMember(_ context.Context, roomID, userID string) (bool, error) {
	return slices.ContainsFunc(m[roomID], func(u signaling.User) bool { return u.ID == userID }), nil
}

func (m membership) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	return m[roomID], nil
}

func (m membership) Rooms(_ context.Context, userID string) ([]string, error) {
	var out []string
	for id, us := range m {
		if slices.ContainsFunc(us, func(u signaling.User) bool { return u.ID == userID }) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Every node of a deployment runs a meeting Service on the same Redis and prefix, with its own
// node id. A meeting started on one node goes on when that node stops, and another node's
// timers end it when it empties. The example needs a Redis server, so it is compiled but not
// run.
func ExampleNew() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}})
	defer rdb.Close()

	store, err := redismeeting.New(context.Background(), rdb, &redismeeting.Options{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err) // Redis does not answer
	}
	node := signaling.NewNode(&signaling.NodeOptions{ID: "node-1"})
	defer node.Shutdown(context.Background())
	svc, err := meeting.New(node, &meeting.Options{
		Store:     store,
		Members:   membership{"standup": {{ID: "alice"}, {ID: "bob"}}},
		RoomTopic: chat.RoomTopic,
	})
	if err != nil {
		log.Fatal(err)
	}
	// Close stops this node's timers and releases their leases: the other nodes take them over
	// at their next sweep (meeting.Options.SweepInterval).
	defer svc.Close()

	// Serve WebSocket sessions on node (signaling/ws) ...
}
