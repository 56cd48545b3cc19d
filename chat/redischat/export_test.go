package redischat

import (
	"context"
	"errors"

	"github.com/huddle-go/huddle/chat"
	"github.com/redis/go-redis/v9"
)

// SetSharded makes s write memberships as it does on Cluster: in a plain pipeline, checking
// Rooms against the members hashes.
func SetSharded(s *Store) { s.sharded = true }

// RoomsKey names a user's rooms set.
func RoomsKey(s *Store, userID string) string { return s.roomsKey(userID) }

// ClaimOnly runs the first half of Append alone, as an Append that died before storing would.
func ClaimOnly(ctx context.Context, s *Store, m chat.Message) error {
	body, err := encode(m)
	if err != nil {
		return err
	}
	err = claimScript.Run(ctx, s.rdb, []string{s.idemKey(m.Sender.ID, m.ClientMsgID)},
		s.clock.Now().UnixMilli(), s.window.Milliseconds(), body).Err()
	if errors.Is(err, redis.Nil) {
		return nil // claimed
	}
	if err == nil {
		return errors.New("redischat: pair already claimed")
	}
	return err
}
