package presence

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store inside one process. Several Trackers (nodes) may share one, which is how
// tests run a multi-node presence without Redis. The zero value is not usable; call
// NewMemoryStore. The last-seen times of offline users are kept up to
// MemoryOptions.MaxOfflineUsers; beyond it the longest offline are forgotten, and Get reports
// them offline with a zero LastSeen, as users never seen.
type MemoryStore struct {
	mu         sync.Mutex
	users      map[string]*memUser
	nodes      map[string]*memNode
	reaped     map[string]bool
	maxOffline int // <= 0: no bound
	offline    int // users in users without sessions
	forgotten  int64
}

type memUser struct {
	sessions map[string]string // session id → node id
	status   Status            // chosen status while sessions exist; "" means online
	lastSeen time.Time
}

type memNode struct {
	sessions map[string]string // session id → user id
	deadline time.Time         // zero: never heartbeated
}

var (
	_ Store          = (*MemoryStore)(nil)
	_ SessionCounter = (*MemoryStore)(nil)
)

// NodeSessions implements SessionCounter.
func (s *MemoryStore) NodeSessions(_ context.Context, nodeID string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[nodeID]; n != nil {
		return len(n.sessions), nil
	}
	return 0, nil
}

// DefaultMaxOfflineUsers is the default of MemoryOptions.MaxOfflineUsers.
const DefaultMaxOfflineUsers = 100_000

// MemoryOptions configures a MemoryStore. The zero value of each field means its default.
type MemoryOptions struct {
	// MaxOfflineUsers bounds the offline users whose last-seen time the store remembers, so
	// that users who come and go do not grow it for ever. Default: DefaultMaxOfflineUsers;
	// negative: no bound.
	MaxOfflineUsers int
}

// NewMemoryStore returns an empty MemoryStore. Nil options mean all defaults.
func NewMemoryStore(opts *MemoryOptions) *MemoryStore {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxOfflineUsers == 0 {
		o.MaxOfflineUsers = DefaultMaxOfflineUsers
	}
	return &MemoryStore{users: map[string]*memUser{}, nodes: map[string]*memNode{}, reaped: map[string]bool{}, maxOffline: o.MaxOfflineUsers}
}

// MemoryStats are a MemoryStore's counts, for metrics.
type MemoryStats struct {
	Users     int   // users the store knows: online, or offline with a last-seen time
	Offline   int   // of them, offline
	Forgotten int64 // offline users forgotten over MaxOfflineUsers, since the store was made
}

// Stats returns the store's counts.
func (m *MemoryStore) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoryStats{Users: len(m.users), Offline: m.offline, Forgotten: m.forgotten}
}

// forgetLocked forgets the longest-offline users while there are more than maxOffline, down to
// nine tenths of it, so that the sort is paid once per many users gone. m.mu must be held.
func (m *MemoryStore) forgetLocked() {
	if m.maxOffline <= 0 || m.offline <= m.maxOffline {
		return
	}
	type gone struct {
		id string
		at time.Time
	}
	all := make([]gone, 0, m.offline)
	for id, u := range m.users {
		if len(u.sessions) == 0 {
			all = append(all, gone{id, u.lastSeen})
		}
	}
	slices.SortFunc(all, func(a, b gone) int { return a.at.Compare(b.at) })
	for _, g := range all[:len(all)-m.maxOffline*9/10] {
		delete(m.users, g.id)
		m.offline--
		m.forgotten++
	}
}

// AddSession implements Store.
func (m *MemoryStore) AddSession(_ context.Context, userID, sessionID, nodeID string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[userID]
	if u == nil {
		u = &memUser{}
		m.users[userID] = u
	} else if len(u.sessions) == 0 {
		m.offline-- // back online
	}
	if u.sessions == nil {
		u.sessions = map[string]string{}
	}
	first := len(u.sessions) == 0
	if old, ok := u.sessions[sessionID]; ok && old != nodeID {
		if n := m.nodes[old]; n != nil {
			delete(n.sessions, sessionID)
		}
	}
	u.sessions[sessionID] = nodeID
	n := m.nodes[nodeID]
	if n == nil {
		n = &memNode{sessions: map[string]string{}}
		m.nodes[nodeID] = n
	}
	n.sessions[sessionID] = userID
	if first {
		u.status = ""
		u.lastSeen = time.Time{}
	}
	return first, nil
}

// RemoveSession implements Store.
func (m *MemoryStore) RemoveSession(_ context.Context, userID, sessionID string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[userID]
	if u == nil {
		return false, nil
	}
	node, ok := u.sessions[sessionID]
	if !ok {
		return false, nil
	}
	if n := m.nodes[node]; n != nil {
		delete(n.sessions, sessionID)
	}
	return m.dropSessionLocked(u, sessionID, at), nil
}

// dropSessionLocked removes a session from u and reports whether u went offline. m.mu must be
// held.
func (m *MemoryStore) dropSessionLocked(u *memUser, sessionID string, at time.Time) bool {
	delete(u.sessions, sessionID)
	if len(u.sessions) > 0 {
		return false
	}
	u.sessions = nil // an emptied map keeps its buckets
	u.status = ""
	u.lastSeen = at
	m.offline++
	m.forgetLocked()
	return true
}

// SetStatus implements Store.
func (m *MemoryStore) SetStatus(_ context.Context, userID string, status Status) (bool, error) {
	if !status.Chosen() {
		return false, fmt.Errorf("%w: %q", ErrInvalidStatus, status)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.users[userID]
	if u == nil || len(u.sessions) == 0 {
		return false, nil
	}
	old := u.current()
	u.status = status
	return old != status, nil
}

func (u *memUser) current() Status {
	switch {
	case len(u.sessions) == 0:
		return StatusOffline
	case u.status == "":
		return StatusOnline
	}
	return u.status
}

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, userIDs []string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Entry, len(userIDs))
	for i, id := range userIDs {
		out[i] = Entry{UserID: id, Status: StatusOffline}
		if u := m.users[id]; u != nil {
			out[i].Status = u.current()
			if out[i].Status == StatusOffline {
				out[i].LastSeen = u.lastSeen
			}
		}
	}
	return out, nil
}

// Heartbeat implements Store.
func (m *MemoryStore) Heartbeat(_ context.Context, nodeID string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[nodeID]
	if n == nil {
		n = &memNode{sessions: map[string]string{}}
		m.nodes[nodeID] = n
	}
	n.deadline = until
	reaped := m.reaped[nodeID]
	delete(m.reaped, nodeID)
	return reaped, nil
}

// Expire implements Store.
func (m *MemoryStore) Expire(_ context.Context, now time.Time) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for id, n := range m.nodes {
		if !n.deadline.IsZero() && !n.deadline.After(now) {
			out = append(out, m.removeNodeLocked(id, now)...)
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// RemoveNode implements Store.
func (m *MemoryStore) RemoveNode(_ context.Context, nodeID string, at time.Time) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.removeNodeLocked(nodeID, at)
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// removeNodeLocked forgets a node and its sessions and returns the users that went offline.
// m.mu must be held.
func (m *MemoryStore) removeNodeLocked(nodeID string, at time.Time) []Entry {
	n := m.nodes[nodeID]
	if n == nil {
		return nil
	}
	delete(m.nodes, nodeID)
	m.reaped[nodeID] = true
	var out []Entry
	for sid, uid := range n.sessions {
		u := m.users[uid]
		if u == nil || u.sessions[sid] != nodeID {
			continue
		}
		if m.dropSessionLocked(u, sid, at) {
			out = append(out, Entry{UserID: uid, Status: StatusOffline, LastSeen: at})
		}
	}
	return out
}
