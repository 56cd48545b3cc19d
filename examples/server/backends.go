package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/redischat"
	"github.com/huddle-go/huddle/chat/sqlchat"
	"github.com/huddle-go/huddle/examples/internal/cli"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/redismeeting"
	"github.com/huddle-go/huddle/meeting/sqlmeeting"
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

// backends are the stores and broker: a SQLite file by default (-data), memory with -data
// memory, Redis with -redis, and chat on PostgreSQL with -postgres.
type backends struct {
	broker        signaling.Broker
	chatStore     chat.Store
	membership    rooms
	presenceStore presence.Store
	meetingStore  meeting.Store
	resumeSecret  []byte // nil: random per process
	// store names where chat history and rooms live, for /healthz; ping checks it.
	store string
	ping  func(context.Context) error
	close func() error
}

func newBackends(ctx context.Context, cfg config, nodeID string, log *slog.Logger) (b *backends, err error) {
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			_ = closeAll()
		}
	}()
	b = &backends{store: "memory", ping: func(context.Context) error { return nil }, close: closeAll}
	if cfg.resumeSecret != "" {
		b.resumeSecret = []byte(cfg.resumeSecret)
	}

	// Chat history and rooms: PostgreSQL, a SQLite file, Redis or memory.
	switch {
	case cfg.postgresURL != "":
		st, err := sqlchat.OpenPostgres(ctx, cfg.postgresURL, &sqlchat.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("huddle: -postgres: %w", err)
		}
		closers = append(closers, st.Close)
		b.chatStore, b.membership, b.store, b.ping = st, st, "postgres", st.Ping
		log.Info("chat history and rooms on PostgreSQL")
	case cfg.redisURL == "" && cfg.dataPath != "memory":
		st, err := sqlchat.OpenSQLite(ctx, cfg.dataPath, &sqlchat.SQLiteOptions{Options: sqlchat.Options{Logger: log}})
		if err != nil {
			return nil, fmt.Errorf("huddle: -data %s: %w", cfg.dataPath, err)
		}
		closers = append(closers, st.Close)
		ms, err := sqlmeeting.New(ctx, st.DB(), nil)
		if err != nil {
			return nil, fmt.Errorf("huddle: -data %s: %w", cfg.dataPath, err)
		}
		// The meetings outlive the process too: huddle.New recovers them at start.
		b.chatStore, b.membership, b.meetingStore = st, st, ms
		b.store, b.ping = "sqlite", st.Ping
		log.Info("chat history, rooms and meetings in a SQLite file", "path", cfg.dataPath)
	}

	if cfg.redisURL == "" {
		if b.chatStore == nil {
			mem := chat.NewMemoryStore(nil)
			b.chatStore, b.membership = mem, mem
		}
		if b.meetingStore == nil {
			b.meetingStore = meeting.NewMemoryStore(nil)
		}
		b.broker = signaling.NewMemoryBroker()
		b.presenceStore = presence.NewMemoryStore(nil)
		return b, nil
	}
	ropts, err := cli.RedisOptions(cfg.redisURL)
	if err != nil {
		return nil, fmt.Errorf("huddle: %w", err)
	}
	rdb := redis.NewClient(ropts)
	closers = append(closers, rdb.Close)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(cctx).Err(); err != nil {
		return nil, fmt.Errorf("huddle: Redis at %s does not answer: %w", ropts.Addr, err)
	}
	const prefix = "huddle:"
	if b.resumeSecret == nil {
		// Without -resume-secret the nodes agree on one through Redis; a Redis that loses its
		// data makes new nodes pick another, so set -resume-secret in production.
		if b.resumeSecret, err = sharedSecret(cctx, rdb, prefix+"resume-secret"); err != nil {
			return nil, err
		}
	}
	broker, err := redisbroker.New(cctx, rdb, &redisbroker.Options{Prefix: prefix, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("huddle: Redis broker: %w", err)
	}
	closers = append(closers, broker.Close)
	if b.chatStore == nil {
		rs, err := redischat.New(cctx, rdb, &redischat.Options{Prefix: prefix})
		if err != nil {
			return nil, fmt.Errorf("huddle: Redis chat store: %w", err)
		}
		b.chatStore, b.membership, b.store = rs, rs, "redis"
		b.ping = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	log.Info("using Redis", "addr", ropts.Addr, "db", ropts.DB, "node", nodeID, "sharded_pubsub", broker.Sharded())
	b.broker = broker
	if b.presenceStore, err = redispresence.New(cctx, rdb, &redispresence.Options{Prefix: prefix}); err != nil {
		return nil, fmt.Errorf("huddle: Redis presence store: %w", err)
	}
	if b.meetingStore, err = redismeeting.New(cctx, rdb, &redismeeting.Options{Prefix: prefix}); err != nil {
		return nil, fmt.Errorf("huddle: Redis meeting store: %w", err)
	}
	return b, nil
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
