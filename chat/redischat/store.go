package redischat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/redis/go-redis/v9"
)

// DefaultMaxHistory is how many messages a room keeps when Options.MaxHistory is zero.
const DefaultMaxHistory = 10000

// Options configures a Store. Nil options, or a zero field, mean the default.
type Options struct {
	// Prefix namespaces every key. Default: "huddle:". It must not contain '{' or '}': a hash
	// tag in the prefix would put every key of the store into one Cluster slot.
	Prefix string
	// MaxHistory bounds the messages kept per room: appending beyond it drops the oldest.
	// Default: DefaultMaxHistory (10000). A negative value keeps every message.
	MaxHistory int
	// IdempotencyWindow is how long a (sender, clientMsgId) pair is remembered.
	// Default: chat.IdempotencyWindow (24 h).
	IdempotencyWindow time.Duration
	// Clock measures the idempotency window. Default: the wall clock. Redis expires the
	// remembered pairs after the window in its own time as well.
	Clock clock.Clock
}

// Store is a chat.Store and a chat.Membership on Redis, shared by every node that uses the same
// Redis and prefix. It works on a single server, Sentinel and Cluster: every script touches the
// keys of one room only, which share a hash tag, or a single key; Join and Leave, which write a
// room's key and a user's, use MULTI only where both keys live on one server (see doc.go).
//
// All methods are safe for concurrent use. A Redis failure is returned as an error wrapping
// signaling.ErrUnavailable (the client sees `unavailable`); the domain errors chat.ErrInvalid
// and chat.ErrNotFound are returned as they are. The Store does not own the client: closing
// the client is the caller's business.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	max     int
	window  time.Duration
	clock   clock.Clock
	sharded bool // the client spreads keys over several servers: no cross-slot MULTI
}

var (
	_ chat.Store             = (*Store)(nil)
	_ chat.HistoryAfterStore = (*Store)(nil)
	_ chat.Membership        = (*Store)(nil)
)

// New returns a Store on rdb after checking that Redis answers (a PING bounded by ctx), so that
// a wrong address fails at start rather than at the first event: that failure wraps
// signaling.ErrUnavailable. Nil options mean all defaults; a Prefix holding '{' or '}' is an
// error.
func New(ctx context.Context, rdb redis.UniversalClient, opts *Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("redischat: New: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = "huddle:"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redischat: New: prefix %q holds a hash tag brace", o.Prefix)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, unavailable("New", err)
	}
	switch {
	case o.MaxHistory == 0:
		o.MaxHistory = DefaultMaxHistory
	case o.MaxHistory < 0:
		o.MaxHistory = 0 // no trimming
	}
	if o.IdempotencyWindow <= 0 {
		o.IdempotencyWindow = chat.IdempotencyWindow
	}
	if o.IdempotencyWindow < time.Millisecond {
		o.IdempotencyWindow = time.Millisecond // PX counts milliseconds
	}
	var sharded bool
	switch rdb.(type) {
	case *redis.ClusterClient, *redis.Ring:
		sharded = true
	}
	return &Store{
		rdb:     rdb,
		prefix:  o.Prefix,
		max:     o.MaxHistory,
		window:  o.IdempotencyWindow,
		clock:   clock.Or(o.Clock),
		sharded: sharded,
	}, nil
}

// Key layout (see doc.go). Every room key carries the hash tag {room:<id>}; the fixed suffixes
// are not suffixes of one another, so two rooms never share a key whatever their ids hold.

func (s *Store) roomKey(roomID, suffix string) string {
	return s.prefix + "{room:" + roomID + "}:" + suffix
}

func (s *Store) logKey(roomID string) string     { return s.roomKey(roomID, "log") }
func (s *Store) msgsKey(roomID string) string    { return s.roomKey(roomID, "msgs") }
func (s *Store) membersKey(roomID string) string { return s.roomKey(roomID, "members") }

func (s *Store) roomsKey(userID string) string {
	return s.prefix + "{user:" + userID + "}:rooms"
}

// idemKey names the remembered (sender, clientMsgId) pair. The sender id is length-prefixed so
// that no choice of client message id can name another sender's key.
func (s *Store) idemKey(senderID, clientMsgID string) string {
	return s.prefix + "idem:" + strconv.Itoa(len(senderID)) + ":" + senderID + ":" + clientMsgID
}

func unavailable(op string, err error) error {
	return fmt.Errorf("redischat: %s: %w: %w", op, signaling.ErrUnavailable, err)
}

// record is a Message as stored: like the wire form, but with lossless RFC 3339 times.
type record struct {
	ID          string         `json:"id"`
	RoomID      string         `json:"roomId"`
	Content     string         `json:"content"`
	Sender      signaling.User `json:"sender"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
	ClientMsgID string         `json:"clientMsgId,omitempty"`
}

func encode(m chat.Message) (string, error) {
	b, err := json.Marshal(record(m))
	if err != nil {
		return "", fmt.Errorf("redischat: encode message %s: %w", m.ID, err)
	}
	return string(b), nil
}

func decode(s string) (chat.Message, error) {
	var r record
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return chat.Message{}, fmt.Errorf("redischat: decode stored message: %w", err)
	}
	return chat.Message(r), nil
}

// claimScript remembers a (sender, clientMsgId) pair unless it is already remembered within the
// window. The value is "<unix ms>|<message>". It returns the remembered message, or nil when
// the pair was free and is now claimed for ARGV[3].
//
// KEYS[1] the idem key; ARGV[1] now (unix ms), ARGV[2] the window (ms), ARGV[3] the message.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, '|', 1, true)
  if sep and tonumber(ARGV[1]) - tonumber(string.sub(v, 1, sep - 1)) < tonumber(ARGV[2]) then
    return string.sub(v, sep + 1)
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3], 'PX', ARGV[2])
return false
`)

// appendScript appends a message to a room unless a message with its id is stored already. The
// log is a sorted set of ids scored by append sequence; the bodies are in a hash by id. Beyond
// ARGV[3] messages (0: no bound) the oldest are dropped. It returns 1 when it stored the
// message, or the body stored under that id.
//
// KEYS[1] the room log, KEYS[2] the room bodies; ARGV[1] id, ARGV[2] body, ARGV[3] max.
var appendScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then return old end
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local seq = 1
if top[2] then seq = tonumber(top[2]) + 1 end
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local max = tonumber(ARGV[3])
if max > 0 then
  local over = redis.call('ZCARD', KEYS[1]) - max
  if over > 0 then
    local gone = redis.call('ZPOPMIN', KEYS[1], over)
    for i = 1, #gone, 2 do redis.call('HDEL', KEYS[2], gone[i]) end
  end
end
return 1
`)

// historyScript returns {hasMore, body...}: the bodies of the newest ARGV[2] messages older
// than the message ARGV[1] (or the newest overall when it is empty), oldest first, and whether
// older ones exist. It returns {-1} when ARGV[1] is not in the log.
//
// KEYS[1] the room log, KEYS[2] the room bodies; ARGV[1] before, ARGV[2] limit (>= 0).
var historyScript = redis.NewScript(`
local limit = tonumber(ARGV[2])
local hi = '+inf'
if ARGV[1] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not score then return {-1} end
  hi = '(' .. score
end
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], hi, '-inf', 'LIMIT', 0, limit + 1)
local out = {0}
if #ids > limit then out[1] = 1 end
for i = math.min(#ids, limit), 1, -1 do
  out[#out + 1] = redis.call('HGET', KEYS[2], ids[i])
end
return out
`)

// historyAfterScript returns {hasMore, body...}: the bodies of the oldest ARGV[2] messages
// newer than the message ARGV[1], oldest first, and whether newer ones exist beyond them. It
// returns {-1} when ARGV[1] is not in the log.
//
// KEYS[1] the room log, KEYS[2] the room bodies; ARGV[1] after, ARGV[2] limit (>= 0).
var historyAfterScript = redis.NewScript(`
local limit = tonumber(ARGV[2])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return {-1} end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. score, '+inf', 'LIMIT', 0, limit + 1)
local out = {0}
if #ids > limit then out[1] = 1 end
for i = 1, math.min(#ids, limit) do
  out[#out + 1] = redis.call('HGET', KEYS[2], ids[i])
end
return out
`)

// Append stores m unless its client message id repeats one of the same sender within the
// idempotency window (see chat.Store). Appending a message whose id is already stored in its
// room stores nothing either, and returns the stored message with existing true.
//
// The remembered client message ids are shared by all rooms, so they cannot share a Cluster slot
// with a room: Append first claims the (sender, clientMsgId) pair with the message, then
// appends the message to its room. A repeat finds the claim and appends the claimed message
// again, which stores nothing when it is there. So an Append that failed or died between the
// two steps is completed by the client's retry, and a message is never stored twice. The call
// that actually stores the message reports existing false, so that the Service publishes it
// once, unless the claimed message belongs to another room than m: that is always reported as
// existing. One corner remains: a repeat after MaxHistory newer messages have pushed the claimed
// message out of its room, within the window, stores it again as the newest.
func (s *Store) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	if m.ID == "" || m.RoomID == "" {
		return chat.Message{}, false, fmt.Errorf("redischat: append: %w: id and room id are required", chat.ErrInvalid)
	}
	body, err := encode(m)
	if err != nil {
		return chat.Message{}, false, err
	}
	if m.ClientMsgID == "" {
		return s.appendRoom(ctx, m, body)
	}
	now := s.clock.Now().UnixMilli()
	claimed, err := claimScript.Run(ctx, s.rdb, []string{s.idemKey(m.Sender.ID, m.ClientMsgID)},
		now, s.window.Milliseconds(), body).Text()
	if errors.Is(err, redis.Nil) {
		return s.appendRoom(ctx, m, body) // the pair is ours
	}
	if err != nil {
		return chat.Message{}, false, unavailable("append: client message id", err)
	}
	earlier, err := decode(claimed)
	if err != nil {
		return chat.Message{}, false, err
	}
	stored, existing, err := s.appendRoom(ctx, earlier, claimed)
	if err != nil {
		return chat.Message{}, false, err
	}
	// A caller publishes a new message to the room it asked for; one completed in another room
	// is reported as a repeat, so that it never reaches the wrong room.
	return stored, existing || stored.RoomID != m.RoomID, nil
}

// appendRoom appends m (encoded as body) to its room; existing reports that it was there.
func (s *Store) appendRoom(ctx context.Context, m chat.Message, body string) (chat.Message, bool, error) {
	res, err := appendScript.Run(ctx, s.rdb, []string{s.logKey(m.RoomID), s.msgsKey(m.RoomID)},
		m.ID, body, s.max).Result()
	if err != nil {
		return chat.Message{}, false, unavailable("append", err)
	}
	if stored, ok := res.(string); ok {
		got, err := decode(stored)
		if err != nil {
			return chat.Message{}, false, err
		}
		return got, true, nil
	}
	return m, false, nil
}

// History returns a page of a room's messages (see chat.Store). Messages are listed in the
// order they were appended. A before that is not in the room, including one dropped by
// MaxHistory, is chat.ErrNotFound.
func (s *Store) History(ctx context.Context, roomID, before string, limit int) ([]chat.Message, bool, error) {
	return s.page(ctx, historyScript, roomID, before, limit)
}

// HistoryAfter returns a page of a room's messages newer than after (see
// chat.HistoryAfterStore), in the order they were appended. An after that is not in the room,
// including one dropped by MaxHistory, is chat.ErrNotFound.
func (s *Store) HistoryAfter(ctx context.Context, roomID, after string, limit int) ([]chat.Message, bool, error) {
	return s.page(ctx, historyAfterScript, roomID, after, limit)
}

// page runs a history script around the message cursor.
func (s *Store) page(ctx context.Context, script *redis.Script, roomID, cursor string, limit int) ([]chat.Message, bool, error) {
	limit = max(limit, 0)
	res, err := script.Run(ctx, s.rdb, []string{s.logKey(roomID), s.msgsKey(roomID)},
		cursor, limit).Slice()
	if err != nil {
		return nil, false, unavailable("history", err)
	}
	if len(res) == 0 {
		return nil, false, fmt.Errorf("redischat: history: unexpected empty reply")
	}
	flag, _ := res[0].(int64)
	if flag < 0 {
		return nil, false, fmt.Errorf("redischat: history of %q around %q: %w", roomID, cursor, chat.ErrNotFound)
	}
	msgs := make([]chat.Message, 0, len(res)-1)
	for _, v := range res[1:] {
		body, ok := v.(string)
		if !ok {
			continue // a log entry without a body; cannot happen, as scripts keep both together
		}
		m, err := decode(body)
		if err != nil {
			return nil, false, err
		}
		msgs = append(msgs, m)
	}
	return msgs, flag == 1, nil
}
