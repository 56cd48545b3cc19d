package redispresence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// defaultBatch is how many sessions of a dead node one reap script removes, so that reaping a
// node with many sessions never blocks Redis for long.
const defaultBatch = 1000

// Options configures a Store. Nil options, or a zero field, mean the default.
type Options struct {
	// Prefix namespaces every key. Default: "huddle:". It must not contain '{' or '}': every key
	// of the store carries the hash tag {presence} right after the prefix.
	Prefix string
}

// Store is a presence.Store on Redis, shared by every node that uses the same Redis and prefix.
// It works on a single server, Sentinel and Cluster (Redis 5 or newer): all its keys share the
// hash tag {presence}, so they live in one Cluster slot and every change is one atomic script;
// on Cluster, presence is therefore served by the one shard that holds that slot.
//
// All methods are safe for concurrent use. A Redis failure is returned as an error wrapping
// signaling.ErrUnavailable; presence.ErrInvalidStatus is returned as it is. Times come from the
// callers' arguments, never from the Redis server's clock, and are kept in milliseconds. The
// Store does not own the client: closing it is the caller's business.
type Store struct {
	rdb   redis.UniversalClient
	base  string // prefix + "{presence}:", the start of every key
	batch int
}

var (
	_ presence.Store          = (*Store)(nil)
	_ presence.SessionCounter = (*Store)(nil)
)

// New returns a Store on rdb after checking that Redis answers (a PING bounded by ctx), so that
// a wrong address fails at start rather than at the first event: that failure wraps
// signaling.ErrUnavailable. Nil options mean all defaults; a Prefix holding '{' or '}' is an
// error.
func New(ctx context.Context, rdb redis.UniversalClient, opts *Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redispresence: New: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = "huddle:"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redispresence: New: prefix %q holds a hash tag brace", o.Prefix)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, unavailable("New", err)
	}
	return &Store{rdb: rdb, base: o.Prefix + "{presence}:", batch: defaultBatch}, nil
}

// Key layout (see doc.go). The kinds are fixed words followed by ':', so ids holding ':' never
// make two kinds collide.

func (s *Store) nodesKey() string              { return s.base + "nodes" }
func (s *Store) reapedKey() string             { return s.base + "reaped" }
func (s *Store) nodeKey(nodeID string) string  { return s.base + "node:" + nodeID }
func (s *Store) userKey(userID string) string  { return s.base + "user:" + userID }
func (s *Store) stateKey(userID string) string { return s.base + "state:" + userID }

func unavailable(op string, err error) error {
	return fmt.Errorf("redispresence: %s: %w: %w", op, signaling.ErrUnavailable, err)
}

// ms is a caller's time as stored: unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS is a stored time as returned: UTC, to the millisecond.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// AddSession implements presence.Store.
func (s *Store) AddSession(ctx context.Context, userID, sessionID, nodeID string) (bool, error) {
	v, err := addScript.Run(ctx, s.rdb, []string{s.userKey(userID), s.nodeKey(nodeID), s.stateKey(userID)},
		sessionID, nodeID, userID, s.base).Int64()
	if err != nil {
		return false, unavailable("add session", err)
	}
	return v == 1, nil
}

// RemoveSession implements presence.Store.
func (s *Store) RemoveSession(ctx context.Context, userID, sessionID string, at time.Time) (bool, error) {
	v, err := removeScript.Run(ctx, s.rdb, []string{s.userKey(userID), s.stateKey(userID)},
		sessionID, ms(at), s.base).Int64()
	if err != nil {
		return false, unavailable("remove session", err)
	}
	return v == 1, nil
}

// SetStatus implements presence.Store.
func (s *Store) SetStatus(ctx context.Context, userID string, status presence.Status) (bool, error) {
	if !status.Chosen() {
		return false, fmt.Errorf("redispresence: set status %q: %w", status, presence.ErrInvalidStatus)
	}
	v, err := statusScript.Run(ctx, s.rdb, []string{s.userKey(userID), s.stateKey(userID)}, string(status)).Int64()
	if err != nil {
		return false, unavailable("set status", err)
	}
	return v == 1, nil
}

// Get implements presence.Store. It reads every user in one script, so the entries are one
// consistent picture.
func (s *Store) Get(ctx context.Context, userIDs []string) ([]presence.Entry, error) {
	if len(userIDs) == 0 {
		return []presence.Entry{}, nil
	}
	keys := make([]string, 0, 2*len(userIDs))
	for _, id := range userIDs {
		keys = append(keys, s.userKey(id), s.stateKey(id))
	}
	reply, err := getScript.Run(ctx, s.rdb, keys).Slice()
	if err != nil {
		return nil, unavailable("get", err)
	}
	if len(reply) != 3*len(userIDs) {
		return nil, fmt.Errorf("redispresence: get: %d values for %d users", len(reply), len(userIDs))
	}
	out := make([]presence.Entry, len(userIDs))
	for i, id := range userIDs {
		sessions, _ := reply[3*i].(int64)
		status, _ := reply[3*i+1].(string)
		seen, _ := reply[3*i+2].(string)
		e := presence.Entry{UserID: id, Status: presence.StatusOffline}
		switch {
		case sessions > 0 && status == "":
			e.Status = presence.StatusOnline
		case sessions > 0:
			e.Status = presence.Status(status)
		case seen != "":
			v, err := strconv.ParseInt(seen, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redispresence: get: last seen of %s: %w", id, err)
			}
			e.LastSeen = fromMS(v)
		}
		out[i] = e
	}
	return out, nil
}

// Heartbeat implements presence.Store.
func (s *Store) Heartbeat(ctx context.Context, nodeID string, until time.Time) (bool, error) {
	v, err := heartbeatScript.Run(ctx, s.rdb, []string{s.nodesKey(), s.reapedKey()}, nodeID, ms(until)).Int64()
	if err != nil {
		return false, unavailable("heartbeat", err)
	}
	return v == 1, nil
}

// NodeSessions implements presence.SessionCounter: how many sessions the store holds for
// nodeID. A Tracker compares it with its own count at each heartbeat, so that a Redis that lost
// its data (restarted without persistence, flushed, evicting) gets the live sessions back.
func (s *Store) NodeSessions(ctx context.Context, nodeID string) (int, error) {
	n, err := s.rdb.HLen(ctx, s.nodeKey(nodeID)).Result()
	if err != nil {
		return 0, unavailable("node sessions", err)
	}
	return int(n), nil
}

// Expire implements presence.Store. It claims dead nodes in batches of sessions, each batch one
// atomic script; if Redis fails part way, the users claimed so far are returned with the error.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]presence.Entry, error) {
	return s.reap(ctx, "expire", "", now)
}

// RemoveNode implements presence.Store. Like Expire, it works in batches and returns the users
// claimed so far with an error.
func (s *Store) RemoveNode(ctx context.Context, nodeID string, at time.Time) ([]presence.Entry, error) {
	return s.reap(ctx, "node", nodeID, at)
}

// reap runs reapScript until it reports nothing more to do: in mode "expire" over every node
// whose deadline is not after at, in mode "node" over nodeID.
func (s *Store) reap(ctx context.Context, mode, nodeID string, at time.Time) ([]presence.Entry, error) {
	seen := fromMS(ms(at))
	var out []presence.Entry
	sorted := func() []presence.Entry {
		slices.SortFunc(out, func(a, b presence.Entry) int { return cmp.Compare(a.UserID, b.UserID) })
		return out
	}
	op := "expire"
	if mode == "node" {
		op = "remove node " + nodeID
	}
	for {
		reply, err := reapScript.Run(ctx, s.rdb, []string{s.nodesKey(), s.reapedKey()},
			s.base, ms(at), s.batch, mode, nodeID).Slice()
		if err != nil {
			return sorted(), unavailable(op, err)
		}
		if len(reply) == 0 {
			return sorted(), fmt.Errorf("redispresence: %s: empty reply", op)
		}
		for _, v := range reply[1:] {
			id, ok := v.(string)
			if !ok {
				return sorted(), fmt.Errorf("redispresence: %s: unexpected user id %T", op, v)
			}
			out = append(out, presence.Entry{UserID: id, Status: presence.StatusOffline, LastSeen: seen})
		}
		if more, _ := reply[0].(int64); more == 0 {
			return sorted(), nil
		}
	}
}
