package redisbroker_test

import (
	"context"
	"log"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/redisbroker"
	"github.com/redis/go-redis/v9"
)

// Two processes (or more) that give their Nodes brokers on the same Redis form one hub: an
// event published on any of them reaches the sessions of all. Resume tokens must verify on every
// node, so they share the secret; HandoverTimeout lets a session resume on another node.
func ExampleNew() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	broker, err := redisbroker.New(ctx, rdb, &redisbroker.Options{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	node := signaling.NewNode(&signaling.NodeOptions{
		ID:              "node-a",
		Broker:          broker,
		ResumeSecret:    []byte("the same secret on every node"),
		HandoverTimeout: 2 * time.Second,
	})
	defer node.Shutdown(ctx)
}
