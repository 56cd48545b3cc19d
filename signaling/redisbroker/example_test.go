package redisbroker_test

import (
	"context"
	"log"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/redisbroker"
	"github.com/redis/go-redis/v9"
)

// Two processes (or more) that give their Nodes brokers on the same Redis form one hub: an
// event published on any of them reaches the sessions of all. Resume tokens must verify on every
// node, so they share the secret; on this Broker a session resumes on another node too
// (cross-node handover is on by default: NodeOptions.HandoverTimeout).
func ExampleNew() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	broker, err := redisbroker.New(ctx, rdb, &redisbroker.Options{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()
	node := signaling.NewNode(&signaling.NodeOptions{
		ID:           "node-a",
		Broker:       broker,
		ResumeSecret: []byte("the same secret on every node"),
	})
	defer node.Shutdown(ctx)
}
