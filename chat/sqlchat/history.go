package sqlchat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/huddle-go/huddle/chat"
)

// History returns a page of a room's messages older than before (see chat.Store), in append
// order.
func (s *Store) History(ctx context.Context, roomID, before string, limit int) ([]chat.Message, bool, error) {
	seq := int64(math.MaxInt64)
	if before != "" {
		var err error
		if seq, err = s.seqOf(ctx, roomID, before); err != nil {
			return nil, false, err
		}
	}
	msgs, more, err := s.page(ctx, s.q.before, roomID, seq, limit)
	if err != nil {
		return nil, false, err
	}
	slices.Reverse(msgs)
	return msgs, more, nil
}

// HistoryAfter returns a page of a room's messages newer than after (see
// chat.HistoryAfterStore), oldest first.
func (s *Store) HistoryAfter(ctx context.Context, roomID, after string, limit int) ([]chat.Message, bool, error) {
	seq, err := s.seqOf(ctx, roomID, after)
	if err != nil {
		return nil, false, err
	}
	return s.page(ctx, s.q.after, roomID, seq, limit)
}

func (s *Store) seqOf(ctx context.Context, roomID, id string) (int64, error) {
	var seq int64
	err := s.prep[s.q.seqOf].QueryRowContext(ctx, id, roomID).Scan(&seq)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("sqlchat: history of %q around %q: %w", roomID, id, chat.ErrNotFound)
	case err != nil:
		return 0, unavailable("history", err)
	}
	return seq, nil
}

// page runs q (before or after) for up to limit messages, asking for one more to learn hasMore.
func (s *Store) page(ctx context.Context, q, roomID string, seq int64, limit int) ([]chat.Message, bool, error) {
	limit = max(limit, 0)
	rows, err := s.prep[q].QueryContext(ctx, roomID, seq, limit+1)
	if err != nil {
		return nil, false, unavailable("history", err)
	}
	defer rows.Close()
	msgs := make([]chat.Message, 0, min(limit+1, 128))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, false, unavailable("history", err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, unavailable("history", err)
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	return msgs, more, nil
}
