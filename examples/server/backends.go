package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/redischat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/redismeeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/presence/redispresence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/redisbroker"
	"github.com/redis/go-redis/v9"
)

// rooms is what chat, presence and meeting share: chat's membership answers all three.
type rooms interface {
	chat.Membership
}

// backends are the stores and broker: memory by default, Redis with -redis.
type backends struct {
	broker        signaling.Broker
	chatStore     chat.Store
	membership    rooms
	presenceStore presence.Store
	meetingStore  meeting.Store
	resumeSecret  []byte // nil: random per process
	shared        bool   // several nodes may share these backends
	close         func() error
}

func newBackends(ctx context.Context, cfg config, nodeID string, log *slog.Logger) (*backends, error) {
	if cfg.redisURL == "" {
		mem := chat.NewMemoryStore(nil)
		return &backends{
			broker:        signaling.NewMemoryBroker(),
			chatStore:     mem,
			membership:    mem,
			presenceStore: presence.NewMemoryStore(),
			meetingStore:  meeting.NewMemoryStore(),
			close:         func() error { return nil },
		}, nil
	}
	ropts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return nil, fmt.Errorf("huddle: -redis %q: %w", cfg.redisURL, err)
	}
	rdb := redis.NewClient(ropts)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(cctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("huddle: Redis at %s does not answer: %w", ropts.Addr, err)
	}
	const prefix = "huddle:"
	secret, err := sharedSecret(cctx, rdb, prefix+"resume-secret")
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	broker, err := redisbroker.New(cctx, rdb, &redisbroker.Options{Prefix: prefix, Logger: log})
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("huddle: Redis broker: %w", err)
	}
	chatStore := redischat.New(rdb, &redischat.Options{Prefix: prefix})
	log.Info("using Redis", "addr", ropts.Addr, "db", ropts.DB, "node", nodeID, "sharded_pubsub", broker.Sharded())
	return &backends{
		broker:        broker,
		chatStore:     chatStore,
		membership:    chatStore,
		presenceStore: redispresence.New(rdb, &redispresence.Options{Prefix: prefix}),
		meetingStore:  redismeeting.New(rdb, &redismeeting.Options{Prefix: prefix}),
		resumeSecret:  secret,
		shared:        true,
		close: func() error {
			berr := broker.Close()
			return joinErr(berr, rdb.Close())
		},
	}, nil
}

// sharedSecret returns the resume-token secret every node of the cluster uses, creating it
// once: tokens issued by one node are then accepted by the others and across restarts.
func sharedSecret(ctx context.Context, rdb redis.UniversalClient, key string) ([]byte, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if err := rdb.SetNX(ctx, key, hex.EncodeToString(b), 0).Err(); err != nil {
		return nil, fmt.Errorf("huddle: resume secret: %w", err)
	}
	v, err := rdb.Get(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("huddle: resume secret: %w", err)
	}
	return []byte(v), nil
}

func joinErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
