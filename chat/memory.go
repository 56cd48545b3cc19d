package chat

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// MemoryOptions configures a MemoryStore. The zero value of each field means its default.
type MemoryOptions struct {
	// Clock measures the idempotency window. Default: the wall clock.
	Clock clock.Clock
	// IdempotencyWindow is how long a (sender, clientMsgId) pair is remembered.
	// Default: IdempotencyWindow (24 h).
	IdempotencyWindow time.Duration
}

// MemoryStore is a Store and a Membership held in memory, for one node, tests and development.
// It keeps every message for as long as it lives; remembered client message ids expire after the
// idempotency window. All methods are safe for concurrent use.
type MemoryStore struct {
	clock  clock.Clock
	window time.Duration

	mu      sync.RWMutex
	rooms   map[string]*memRoom                    // messages by room id
	keys    map[idemKey]idemEntry                  // remembered client message ids
	expiry  []idemExpiry                           // keys in the order they were remembered
	members map[string]*orderedSet[signaling.User] // room id → members by user id
	joined  map[string]*orderedSet[struct{}]       // user id → room ids
}

var (
	_ Store             = (*MemoryStore)(nil)
	_ HistoryAfterStore = (*MemoryStore)(nil)
	_ Membership        = (*MemoryStore)(nil)
)

type memRoom struct {
	msgs  []Message
	index map[string]int // message id → position in msgs
}

type idemKey struct{ sender, clientMsgID string }

type idemEntry struct {
	msg Message
	at  time.Time
}

type idemExpiry struct {
	key idemKey
	at  time.Time
}

// NewMemoryStore returns an empty MemoryStore. Nil options mean all defaults.
func NewMemoryStore(opts *MemoryOptions) *MemoryStore {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	if o.IdempotencyWindow <= 0 {
		o.IdempotencyWindow = IdempotencyWindow
	}
	return &MemoryStore{
		clock:   clock.Or(o.Clock),
		window:  o.IdempotencyWindow,
		rooms:   map[string]*memRoom{},
		keys:    map[idemKey]idemEntry{},
		members: map[string]*orderedSet[signaling.User]{},
		joined:  map[string]*orderedSet[struct{}]{},
	}
}

// Append stores m unless its client message id repeats one of the same sender (see Store).
func (s *MemoryStore) Append(_ context.Context, m Message) (Message, bool, error) {
	if m.ID == "" || m.RoomID == "" {
		return Message{}, false, fmt.Errorf("chat: append: %w: id and room id are required", ErrInvalid)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	var k idemKey
	if m.ClientMsgID != "" {
		k = idemKey{m.Sender.ID, m.ClientMsgID}
		if e, ok := s.keys[k]; ok {
			return e.msg, true, nil
		}
	}
	r := s.rooms[m.RoomID]
	if r == nil {
		r = &memRoom{index: map[string]int{}}
		s.rooms[m.RoomID] = r
	}
	r.index[m.ID] = len(r.msgs)
	r.msgs = append(r.msgs, m)
	if m.ClientMsgID != "" {
		s.keys[k] = idemEntry{msg: m, at: now}
		s.expiry = append(s.expiry, idemExpiry{key: k, at: now})
	}
	return m, false, nil
}

// expireLocked forgets the client message ids older than the window. s.mu must be held.
func (s *MemoryStore) expireLocked(now time.Time) {
	for len(s.expiry) > 0 && now.Sub(s.expiry[0].at) >= s.window {
		x := s.expiry[0]
		if e, ok := s.keys[x.key]; ok && e.at.Equal(x.at) {
			delete(s.keys, x.key)
		}
		s.expiry[0] = idemExpiry{}
		s.expiry = s.expiry[1:]
	}
}

// History returns a page of a room's messages (see Store).
func (s *MemoryStore) History(_ context.Context, roomID, before string, limit int) ([]Message, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.rooms[roomID]
	end := 0
	if r != nil {
		end = len(r.msgs)
	}
	if before != "" {
		i, ok := -1, false
		if r != nil {
			i, ok = r.index[before]
		}
		if !ok {
			return nil, false, fmt.Errorf("chat: history of %q before %q: %w", roomID, before, ErrNotFound)
		}
		end = i
	}
	limit = max(limit, 0)
	start := max(end-limit, 0)
	out := make([]Message, end-start)
	if end > start {
		copy(out, r.msgs[start:end])
	}
	return out, start > 0, nil
}

// HistoryAfter returns a page of a room's messages newer than after (see HistoryAfterStore).
func (s *MemoryStore) HistoryAfter(_ context.Context, roomID, after string, limit int) ([]Message, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.rooms[roomID]
	i, ok := -1, false
	if r != nil {
		i, ok = r.index[after]
	}
	if !ok {
		return nil, false, fmt.Errorf("chat: history of %q after %q: %w", roomID, after, ErrNotFound)
	}
	start := i + 1
	end := min(start+max(limit, 0), len(r.msgs))
	out := make([]Message, end-start)
	copy(out, r.msgs[start:end])
	return out, end < len(r.msgs), nil
}

// Join makes u a member of the room; joining again updates the stored User.
func (s *MemoryStore) Join(_ context.Context, roomID string, u signaling.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.members[roomID]
	if m == nil {
		m = newOrderedSet[signaling.User]()
		s.members[roomID] = m
	}
	m.put(u.ID, u)
	j := s.joined[u.ID]
	if j == nil {
		j = newOrderedSet[struct{}]()
		s.joined[u.ID] = j
	}
	j.put(roomID, struct{}{})
	return nil
}

// Leave removes a member; leaving a room one is not in is not an error.
func (s *MemoryStore) Leave(_ context.Context, roomID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.members[roomID]; m != nil {
		m.remove(userID)
		if m.len() == 0 {
			delete(s.members, roomID)
		}
	}
	if j := s.joined[userID]; j != nil {
		j.remove(roomID)
		if j.len() == 0 {
			delete(s.joined, userID)
		}
	}
	return nil
}

// IsMember reports whether the user belongs to the room.
func (s *MemoryStore) IsMember(_ context.Context, roomID, userID string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.members[roomID]
	return m != nil && m.has(userID), nil
}

// Members lists a room's members, in the order they first joined.
func (s *MemoryStore) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := s.members[roomID]
	if m == nil {
		return []signaling.User{}, nil
	}
	return m.values(), nil
}

// Rooms lists a user's rooms, in the order the user first joined them.
func (s *MemoryStore) Rooms(_ context.Context, userID string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	j := s.joined[userID]
	if j == nil {
		return []string{}, nil
	}
	return j.keys(), nil
}

// orderedSet is a map that remembers the order in which its keys were first put.
type orderedSet[V any] struct {
	order []string
	vals  map[string]V
}

func newOrderedSet[V any]() *orderedSet[V] { return &orderedSet[V]{vals: map[string]V{}} }

func (o *orderedSet[V]) put(k string, v V) {
	if _, ok := o.vals[k]; !ok {
		o.order = append(o.order, k)
	}
	o.vals[k] = v
}

func (o *orderedSet[V]) remove(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, x := range o.order {
		if x == k {
			o.order = append(o.order[:i], o.order[i+1:]...)
			break
		}
	}
}

func (o *orderedSet[V]) has(k string) bool { _, ok := o.vals[k]; return ok }

func (o *orderedSet[V]) len() int { return len(o.order) }

func (o *orderedSet[V]) keys() []string { return append([]string{}, o.order...) }

func (o *orderedSet[V]) values() []V {
	out := make([]V, len(o.order))
	for i, k := range o.order {
		out[i] = o.vals[k]
	}
	return out
}
