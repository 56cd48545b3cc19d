package meeting

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Errors a Store returns, the same for every implementation; test them with errors.Is.
var (
	// ErrNotFound: the room has no meeting record.
	ErrNotFound = errors.New("meeting: not found")
	// ErrConflict: Create found an active meeting in the room, or Update gave up on contention.
	ErrConflict = errors.New("meeting: conflict")
)

// Store keeps one meeting record per room. Implementations are safe for concurrent use, never
// share slices with their callers (what a caller passes in or gets back is its own copy), and
// wrap backend failures with signaling.ErrUnavailable. internal/storetest.Meeting is the
// contract every implementation passes.
type Store interface {
	// Create stores m as the meeting of m.RoomID. It fails with ErrConflict when the room has an
	// active meeting (it never overwrites one); a record that is not active is replaced.
	Create(ctx context.Context, m Meeting) error
	// Get returns the room's meeting record, active or not, or ErrNotFound.
	Get(ctx context.Context, roomID string) (Meeting, error)
	// Update is an atomic read-modify-write of the room's record: it calls f with a copy of the
	// record and stores what f leaves, and no other change to the record lands in between. If f
	// returns an error nothing is stored and Update returns that error unchanged. f may be called
	// more than once (an implementation may retry on contention), so it must do nothing but
	// change the Meeting and set its caller's variables; it must not keep the pointer. Update
	// fails with ErrNotFound when the room has no record, and may fail with ErrConflict when
	// contention persists after retries. f must not change RoomID.
	Update(ctx context.Context, roomID string, f func(*Meeting) error) error
	// Delete removes the room's record. A missing record is not an error.
	Delete(ctx context.Context, roomID string) error
	// ActiveIn returns the active meetings of the given rooms, in the order of roomIDs, each
	// once; rooms without an active meeting are skipped.
	ActiveIn(ctx context.Context, roomIDs []string) ([]Meeting, error)
}

// MemoryStore is a Store in the process's memory, for one node and for tests. The zero value is
// ready to use; all methods are safe for concurrent use.
type MemoryStore struct {
	mu       sync.Mutex
	meetings map[string]Meeting
}

var _ Store = (*MemoryStore)(nil)

// MemoryOptions configures a MemoryStore. It has no fields yet: it gives the memory stores of
// chat, presence and meeting one constructor shape, and room to grow without a new function.
type MemoryOptions struct{}

// NewMemoryStore returns an empty MemoryStore. Nil options mean all defaults.
func NewMemoryStore(opts *MemoryOptions) *MemoryStore { return &MemoryStore{} }

// Create stores a copy of m unless the room has an active meeting.
func (s *MemoryStore) Create(_ context.Context, m Meeting) error {
	if m.RoomID == "" {
		return errors.New("meeting: create: empty room id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.meetings[m.RoomID]; ok && old.Active() {
		return fmt.Errorf("meeting: create %s: %w", m.RoomID, ErrConflict)
	}
	if s.meetings == nil {
		s.meetings = map[string]Meeting{}
	}
	s.meetings[m.RoomID] = m.clone()
	return nil
}

// Get returns a copy of the room's record.
func (s *MemoryStore) Get(_ context.Context, roomID string) (Meeting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[roomID]
	if !ok {
		return Meeting{}, fmt.Errorf("meeting: get %s: %w", roomID, ErrNotFound)
	}
	return m.clone(), nil
}

// Update runs f on a copy of the room's record under the store's lock and keeps the result.
func (s *MemoryStore) Update(_ context.Context, roomID string, f func(*Meeting) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[roomID]
	if !ok {
		return fmt.Errorf("meeting: update %s: %w", roomID, ErrNotFound)
	}
	work := m.clone()
	if err := f(&work); err != nil {
		return err
	}
	work.RoomID = roomID
	s.meetings[roomID] = work.clone()
	return nil
}

// Delete removes the room's record.
func (s *MemoryStore) Delete(_ context.Context, roomID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.meetings, roomID)
	return nil
}

// ActiveIn returns copies of the active meetings of roomIDs.
func (s *MemoryStore) ActiveIn(_ context.Context, roomIDs []string) ([]Meeting, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Meeting
	seen := make(map[string]bool, len(roomIDs))
	for _, id := range roomIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		if m, ok := s.meetings[id]; ok && m.Active() {
			out = append(out, m.clone())
		}
	}
	return out, nil
}
