package redischat_test

import (
	"context"
	"log"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/redischat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// Keep a chat's rooms, members and history in Redis, shared by every node of a deployment. The
// example needs a Redis server, so it is compiled but not run.
func ExampleNew() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}})
	defer rdb.Close()

	store, err := redischat.New(context.Background(), rdb, &redischat.Options{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err) // Redis does not answer
	}
	node := signaling.NewNode(nil)
	svc, err := chat.New(node, &chat.Options{Store: store, Membership: store})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	// Serve WebSockets with signaling/ws.Handler(node, nil) ...
}
