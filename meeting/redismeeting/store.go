package redismeeting

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// Options configures a Store. Nil options, or a zero field, mean the default.
type Options struct {
	// Prefix namespaces every key. Default: "huddle:". It must not contain '{' or '}': a hash
	// tag in the prefix would put every key of the store into one Cluster slot.
	Prefix string
	// MaxAttempts bounds the tries of an Update whose record other writers keep changing; then
	// it fails with meeting.ErrConflict. Default: 16.
	MaxAttempts int
	// Clock stamps the entries of the active-meetings index, so that stale entries are dropped
	// only once they are older than a minute. Default: the wall clock.
	Clock clock.Clock
}

// DefaultMaxAttempts is Options.MaxAttempts when zero.
const DefaultMaxAttempts = 16

// staleAfter is how old an index entry must be before a missing or inactive record removes it:
// far longer than a Create takes between its two steps (see Create).
const staleAfter = time.Minute

// batch bounds the rooms read by one pipeline.
const batch = 512

// Store is a meeting.Store and a meeting.Leaser on Redis, shared by every node that uses the
// same Redis and prefix. It works on a single server, Sentinel and Cluster (Redis 5 or newer):
// each script touches the keys of one room, which share a hash tag, or the index alone.
//
// All methods are safe for concurrent use. A Redis failure is returned as an error wrapping
// signaling.ErrUnavailable; meeting.ErrNotFound and meeting.ErrConflict keep their meaning. The
// Store does not own the client: closing it is the caller's business.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	attempts int
	clock    clock.Clock
}

var (
	_ meeting.Store  = (*Store)(nil)
	_ meeting.Leaser = (*Store)(nil)
)

// New returns a Store on rdb after checking that Redis answers (a PING bounded by ctx), so that
// a wrong address fails at start rather than at the first event: that failure wraps
// signaling.ErrUnavailable. Nil options mean all defaults; a Prefix holding '{' or '}' is an
// error.
func New(ctx context.Context, rdb redis.UniversalClient, opts *Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redismeeting: New: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = "huddle:"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redismeeting: New: prefix %q holds a hash tag brace", o.Prefix)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, unavailable("New", err)
	}
	return &Store{rdb: rdb, prefix: o.Prefix, attempts: o.MaxAttempts, clock: clock.Or(o.Clock)}, nil
}

// Key layout (see doc.go). Both keys of a room carry the hash tag {room:<id>}, as redischat's
// keys of the room do; the fixed suffixes are not suffixes of one another, nor of redischat's.

func (s *Store) meetingKey(roomID string) string { return s.prefix + "{room:" + roomID + "}:meeting" }
func (s *Store) leaseKey(roomID string) string {
	return s.prefix + "{room:" + roomID + "}:meeting:lease"
}
func (s *Store) indexKey() string { return s.prefix + "{meetings}:active" }

// Fields of the meeting hash.
const (
	fieldRecord  = "rec"    // meeting.Meeting.MarshalBinary
	fieldStatus  = "status" // meeting.Meeting.Status, for the scripts
	fieldVersion = "ver"    // a random token, new at every write
)

func unavailable(op string, err error) error {
	return fmt.Errorf("redismeeting: %s: %w: %w", op, signaling.ErrUnavailable, err)
}

// newVersion returns a fresh version token. Tokens are random rather than counted, so that a
// record deleted and created again never takes a version an older reader saw.
func newVersion() string { return strconv.FormatUint(rand.Uint64(), 36) }

func encode(m meeting.Meeting) (string, error) {
	b, err := m.MarshalBinary()
	if err != nil {
		return "", fmt.Errorf("redismeeting: encode %s: %w", m.RoomID, err)
	}
	return string(b), nil
}

func decode(roomID, v string) (meeting.Meeting, error) {
	var m meeting.Meeting
	if err := m.UnmarshalBinary([]byte(v)); err != nil {
		return meeting.Meeting{}, fmt.Errorf("redismeeting: room %s: %w", roomID, err)
	}
	return m, nil
}

// Create stores m unless its room has an active meeting. It lists the room in the index first,
// then writes the record in one script; a Create that fails in between leaves an index entry
// that Active removes once it is stale.
func (s *Store) Create(ctx context.Context, m meeting.Meeting) error {
	if m.RoomID == "" {
		return errors.New("redismeeting: create: empty room id")
	}
	rec, err := encode(m)
	if err != nil {
		return err
	}
	now := s.clock.Now().UnixMilli()
	if err := s.rdb.ZAdd(ctx, s.indexKey(), redis.Z{Score: float64(now), Member: m.RoomID}).Err(); err != nil {
		return unavailable("create "+m.RoomID, err)
	}
	ok, err := createScript.Run(ctx, s.rdb, []string{s.meetingKey(m.RoomID)}, rec, m.Status, newVersion()).Int()
	if err != nil {
		return unavailable("create "+m.RoomID, err)
	}
	if ok == 0 {
		return fmt.Errorf("redismeeting: create %s: %w", m.RoomID, meeting.ErrConflict)
	}
	return nil
}

// Get returns the room's record.
func (s *Store) Get(ctx context.Context, roomID string) (meeting.Meeting, error) {
	v, err := s.rdb.HGet(ctx, s.meetingKey(roomID), fieldRecord).Result()
	if errors.Is(err, redis.Nil) {
		return meeting.Meeting{}, fmt.Errorf("redismeeting: get %s: %w", roomID, meeting.ErrNotFound)
	}
	if err != nil {
		return meeting.Meeting{}, unavailable("get "+roomID, err)
	}
	return decode(roomID, v)
}

// Update reads the record and its version, runs f, and writes the result with a script that
// stores it only if the version is unchanged (optimistic concurrency). On a changed version it
// reads again and calls f again, up to Options.MaxAttempts times, pausing a few random
// milliseconds between tries; then it fails with meeting.ErrConflict.
func (s *Store) Update(ctx context.Context, roomID string, f func(*meeting.Meeting) error) error {
	key := s.meetingKey(roomID)
	for attempt := range s.attempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return unavailable("update "+roomID, err)
			}
		}
		vals, err := s.rdb.HMGet(ctx, key, fieldRecord, fieldVersion).Result()
		if err != nil {
			return unavailable("update "+roomID, err)
		}
		rec, _ := vals[0].(string)
		ver, _ := vals[1].(string)
		if vals[0] == nil || vals[1] == nil {
			return fmt.Errorf("redismeeting: update %s: %w", roomID, meeting.ErrNotFound)
		}
		m, err := decode(roomID, rec)
		if err != nil {
			return err
		}
		if err := f(&m); err != nil {
			return err
		}
		m.RoomID = roomID
		next, err := encode(m)
		if err != nil {
			return err
		}
		stored, err := casScript.Run(ctx, s.rdb, []string{key}, ver, next, m.Status, newVersion()).Int()
		if err != nil {
			return unavailable("update "+roomID, err)
		}
		if stored == 1 {
			return nil
		}
		// Changed (0) or deleted (-1) meanwhile: read again.
	}
	return fmt.Errorf("redismeeting: update %s: %d attempts: %w", roomID, s.attempts, meeting.ErrConflict)
}

// pause waits before the attempt-th retry of a contended Update: a random 0 to attempt ms, so
// that the contenders spread out.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt)*int64(time.Millisecond) + 1)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Delete removes the room's record, and its index entry when that is stale.
func (s *Store) Delete(ctx context.Context, roomID string) error {
	if err := s.rdb.Del(ctx, s.meetingKey(roomID)).Err(); err != nil {
		return unavailable("delete "+roomID, err)
	}
	// The index is a hint: an entry left behind is removed by Active.
	_ = s.unindex(ctx, []string{roomID})
	return nil
}

// unindex removes the index entries of rooms that are older than staleAfter.
func (s *Store) unindex(ctx context.Context, rooms []string) error {
	cutoff := s.clock.Now().Add(-staleAfter).UnixMilli()
	args := make([]any, 0, len(rooms)+1)
	args = append(args, cutoff)
	for _, r := range rooms {
		args = append(args, r)
	}
	return unindexScript.Run(ctx, s.rdb, []string{s.indexKey()}, args...).Err()
}

// ActiveIn returns the active meetings of roomIDs, reading their records in pipelines of up to
// 512 rooms (one round trip each on a single server; one per shard on Cluster).
func (s *Store) ActiveIn(ctx context.Context, roomIDs []string) ([]meeting.Meeting, error) {
	seen := make(map[string]bool, len(roomIDs))
	rooms := make([]string, 0, len(roomIDs))
	for _, id := range roomIDs {
		if !seen[id] {
			seen[id] = true
			rooms = append(rooms, id)
		}
	}
	var out []meeting.Meeting
	err := s.read(ctx, rooms, func(roomID string, m *meeting.Meeting) {
		if m != nil && m.Active() {
			out = append(out, *m)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// read fetches the records of rooms in batches and calls found for each room in order, with nil
// for a room without a record.
func (s *Store) read(ctx context.Context, rooms []string, found func(roomID string, m *meeting.Meeting)) error {
	for len(rooms) > 0 {
		n := min(len(rooms), batch)
		part := rooms[:n]
		rooms = rooms[n:]
		cmds := make([]*redis.StringCmd, len(part))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, r := range part {
				cmds[i] = p.HGet(ctx, s.meetingKey(r), fieldRecord)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return unavailable("read meetings", err)
		}
		for i, r := range part {
			v, err := cmds[i].Result()
			if errors.Is(err, redis.Nil) {
				found(r, nil)
				continue
			}
			if err != nil {
				return unavailable("read meetings", err)
			}
			m, err := decode(r, v)
			if err != nil {
				return err
			}
			found(r, &m)
		}
	}
	return nil
}
