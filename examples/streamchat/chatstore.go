package main

import (
	"context"
	"log/slog"

	"github.com/huddle-go/huddle/chat"
)

// openChatStore returns the store of messages and membership.
//
// TODO(streamchat): chat/sqlchat (branch durable) in the same database; until it is merged this
// is the memory store, so messages and membership do not survive a restart.
func openChatStore(_ context.Context, _ *backends, log *slog.Logger) (chatStore, error) {
	log.Info("messages and room membership are kept in memory until chat/sqlchat is wired in")
	return chat.NewMemoryStore(nil), nil
}
