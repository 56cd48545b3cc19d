package redischat

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// A membership is written twice: in the room's members hash (user id → User JSON), which
// answers IsMember and Members, and in the user's rooms set, which answers Rooms. The two keys
// hash to different slots, so the pair is written in one MULTI on a single server and in one
// (non-transactional) pipeline on Cluster or Ring. There the room's hash is the source of truth:
// Rooms drops any room whose hash does not list the user, so that a Join racing a Leave can
// never leave a user subscribed to a room they are not in. The converse can happen there: such
// a race may end with the user in the room's hash but missing from their rooms set, until they
// join or leave again (both writes are idempotent, so repeating either repairs the pair).

// write runs f in a MULTI transaction, or in a plain pipeline when the client is sharded.
func (s *Store) write(ctx context.Context, f func(redis.Pipeliner) error) error {
	var err error
	if s.sharded {
		_, err = s.rdb.Pipelined(ctx, f)
	} else {
		_, err = s.rdb.TxPipelined(ctx, f)
	}
	return err
}

// Join makes u a member of the room; joining again updates the stored User.
func (s *Store) Join(ctx context.Context, roomID string, u signaling.User) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("redischat: join: encode user: %w", err)
	}
	err = s.write(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.membersKey(roomID), u.ID, b)
		p.SAdd(ctx, s.roomsKey(u.ID), roomID)
		return nil
	})
	if err != nil {
		return unavailable("join", err)
	}
	return nil
}

// Leave removes a member; leaving a room one is not in is not an error.
func (s *Store) Leave(ctx context.Context, roomID, userID string) error {
	err := s.write(ctx, func(p redis.Pipeliner) error {
		p.SRem(ctx, s.roomsKey(userID), roomID)
		p.HDel(ctx, s.membersKey(roomID), userID)
		return nil
	})
	if err != nil {
		return unavailable("leave", err)
	}
	return nil
}

// IsMember reports whether the user belongs to the room.
func (s *Store) IsMember(ctx context.Context, roomID, userID string) (bool, error) {
	ok, err := s.rdb.HExists(ctx, s.membersKey(roomID), userID).Result()
	if err != nil {
		return false, unavailable("is member", err)
	}
	return ok, nil
}

// Members lists a room's members, in no particular order.
func (s *Store) Members(ctx context.Context, roomID string) ([]signaling.User, error) {
	vals, err := s.rdb.HVals(ctx, s.membersKey(roomID)).Result()
	if err != nil {
		return nil, unavailable("members", err)
	}
	out := make([]signaling.User, 0, len(vals))
	for _, v := range vals {
		var u signaling.User
		if err := json.Unmarshal([]byte(v), &u); err != nil {
			return nil, fmt.Errorf("redischat: members of %q: decode user: %w", roomID, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// Rooms lists a user's rooms, in no particular order.
func (s *Store) Rooms(ctx context.Context, userID string) ([]string, error) {
	rooms, err := s.rdb.SMembers(ctx, s.roomsKey(userID)).Result()
	if err != nil {
		return nil, unavailable("rooms", err)
	}
	if !s.sharded || len(rooms) == 0 {
		return rooms, nil
	}
	// Check each room against its members hash (see the note at the top of this file).
	checks := make([]*redis.BoolCmd, len(rooms))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, r := range rooms {
			checks[i] = p.HExists(ctx, s.membersKey(r), userID)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("rooms", err)
	}
	out := rooms[:0]
	for i, r := range rooms {
		if checks[i].Val() {
			out = append(out, r)
		}
	}
	return out, nil
}
