package main

import (
	"context"
	"log/slog"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
)

// backends are the stores and broker: memory by default, Redis with -redis.
type backends struct {
	broker        signaling.Broker
	chatStore     chat.Store
	membership    *chat.MemoryStore
	presenceStore presence.Store
	meetingStore  meeting.Store
	resumeSecret  []byte
	close         func() error
}

func newBackends(ctx context.Context, cfg config, nodeID string, log *slog.Logger) (*backends, error) {
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
