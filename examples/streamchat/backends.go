package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/examples/streamchat/accounts"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/redismeeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/presence/redispresence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/redisbroker"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// chatStore is what the chat store gives the server: messages and membership.
type chatStore interface {
	chat.Store
	chat.Membership
}

// backends are the database, the stores and the broker.
type backends struct {
	db            *sql.DB
	dialect       accounts.Dialect
	accounts      *accounts.Store
	chat          chatStore
	broker        signaling.Broker
	presenceStore presence.Store
	meetingStore  meeting.Store
	shared        bool // several nodes may share these backends
	closers       []func() error
}

func (b *backends) close() error {
	var first error
	for i := len(b.closers) - 1; i >= 0; i-- {
		if err := b.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// openDB opens the SQLite file, or PostgreSQL with -postgres, and checks that it answers.
func openDB(ctx context.Context, cfg config) (*sql.DB, accounts.Dialect, error) {
	var (
		db  *sql.DB
		d   accounts.Dialect
		err error
		at  string
	)
	if cfg.postgres != "" {
		db, err = sql.Open("pgx", cfg.postgres)
		d, at = accounts.Postgres, "PostgreSQL"
	} else {
		// WAL lets readers go on while one writer writes; busy_timeout makes writers queue
		// instead of failing; foreign keys cascade the deletion of a user's tokens.
		db, err = sql.Open("sqlite", "file:"+cfg.data+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
		d, at = accounts.SQLite, "SQLite file "+cfg.data
	}
	if err != nil {
		return nil, "", fmt.Errorf("streamchat: open %s: %w", at, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, "", fmt.Errorf("streamchat: %s does not answer: %w", at, err)
	}
	return db, d, nil
}

func newBackends(ctx context.Context, cfg config, log *slog.Logger) (*backends, error) {
	db, d, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	b := &backends{db: db, dialect: d, closers: []func() error{db.Close}}
	if b.accounts, err = accounts.Open(ctx, db, d); err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: %w", err)
	}
	if b.chat, err = openChatStore(ctx, b, log); err != nil {
		_ = b.close()
		return nil, err
	}
	if cfg.redisURL == "" {
		b.broker = signaling.NewMemoryBroker()
		b.presenceStore = presence.NewMemoryStore()
		b.meetingStore = meeting.NewMemoryStore()
		return b, nil
	}
	ropts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: -redis %q: %w", cfg.redisURL, err)
	}
	rdb := redis.NewClient(ropts)
	b.closers = append(b.closers, rdb.Close)
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(cctx).Err(); err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: Redis at %s does not answer: %w", ropts.Addr, err)
	}
	const prefix = "streamchat:"
	broker, err := redisbroker.New(cctx, rdb, &redisbroker.Options{Prefix: prefix, Logger: log})
	if err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: Redis broker: %w", err)
	}
	b.closers = append(b.closers, broker.Close)
	b.broker = broker
	b.presenceStore = redispresence.New(rdb, &redispresence.Options{Prefix: prefix})
	b.meetingStore = redismeeting.New(rdb, &redismeeting.Options{Prefix: prefix})
	b.shared = true
	log.Info("using Redis", "addr", ropts.Addr, "db", ropts.DB)
	return b, nil
}
