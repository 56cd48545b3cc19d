package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/sqlchat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/examples/internal/cli"
	"github.com/huddle-go/huddle/examples/streamchat/accounts"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/redismeeting"
	"github.com/huddle-go/huddle/meeting/sqlmeeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/presence/redispresence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/redisbroker"
	"github.com/redis/go-redis/v9"
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

// openChatStore opens the SQLite file, or PostgreSQL with -postgres, as the chat store of
// messages and membership; the accounts share its database. closeStore closes the store and the
// database.
func openChatStore(ctx context.Context, cfg config, c clock.Clock, log *slog.Logger) (st *sqlchat.Store, d accounts.Dialect, closeStore func() error, err error) {
	opts := sqlchat.Options{Clock: c, Logger: log}
	switch {
	case cfg.postgres != "":
		if st, err = sqlchat.OpenPostgres(ctx, cfg.postgres, &opts); err != nil {
			return nil, "", nil, fmt.Errorf("streamchat: -postgres: %w", err)
		}
		return st, accounts.Postgres, st.Close, nil
	case cfg.redisURL == "":
		// The only process on the file: the store may cache membership answers.
		if st, err = sqlchat.OpenSQLite(ctx, cfg.data, &sqlchat.SQLiteOptions{Options: opts}); err != nil {
			return nil, "", nil, fmt.Errorf("streamchat: -data %s: %w", cfg.data, err)
		}
		return st, accounts.SQLite, st.Close, nil
	}
	// Several processes (-redis) on one file: no membership cache, since another node may
	// change a membership.
	db, err := sqlchat.OpenSQLiteDB(ctx, cfg.data, "")
	if err != nil {
		return nil, "", nil, fmt.Errorf("streamchat: -data %s: %w", cfg.data, err)
	}
	if st, err = sqlchat.New(ctx, db, sqlchat.SQLite, &opts); err != nil {
		_ = db.Close()
		return nil, "", nil, fmt.Errorf("streamchat: -data %s: %w", cfg.data, err)
	}
	return st, accounts.SQLite, func() error { return errors.Join(st.Close(), db.Close()) }, nil
}

func newBackends(ctx context.Context, cfg config, c clock.Clock, log *slog.Logger) (*backends, error) {
	cs, d, closeChat, err := openChatStore(ctx, cfg, c, log)
	if err != nil {
		return nil, err
	}
	b := &backends{db: cs.DB(), dialect: d, chat: cs, closers: []func() error{closeChat}}
	if b.accounts, err = accounts.Open(ctx, b.db, d); err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: %w", err)
	}
	if cfg.redisURL == "" {
		b.broker = signaling.NewMemoryBroker()
		b.presenceStore = presence.NewMemoryStore(nil)
		b.meetingStore = meeting.NewMemoryStore(nil)
		if d == accounts.SQLite {
			// One node on a file: its meetings survive a restart too.
			ms, err := sqlmeeting.New(ctx, b.db, nil)
			if err != nil {
				_ = b.close()
				return nil, fmt.Errorf("streamchat: -data %s: meetings: %w", cfg.data, err)
			}
			b.meetingStore = ms // huddle.New recovers its meetings at start
		}
		return b, nil
	}
	ropts, err := cli.RedisOptions(cfg.redisURL)
	if err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: %w", err)
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
	if b.presenceStore, err = redispresence.New(cctx, rdb, &redispresence.Options{Prefix: prefix}); err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: Redis presence store: %w", err)
	}
	if b.meetingStore, err = redismeeting.New(cctx, rdb, &redismeeting.Options{Prefix: prefix}); err != nil {
		_ = b.close()
		return nil, fmt.Errorf("streamchat: Redis meeting store: %w", err)
	}
	log.Info("using Redis", "addr", ropts.Addr, "db", ropts.DB)
	return b, nil
}
