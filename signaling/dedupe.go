package signaling

import "sync"

// A publish can reach the Broker twice: a call that timed out on a stalled Redis may still be
// run by it once it resumes, and then the caller's retry (go-redis's own, or the application's
// after `unavailable`) publishes the same event again. Each event therefore carries a publish id
// (node-made, or the caller's PublishID), and a node delivers an id at most once among the last
// recentPublishes events it received.

// recentPublishes bounds the publish ids a node remembers (about 100 bytes each).
const recentPublishes = 8192

// recentIDs is a bounded set of the publish ids seen last, oldest forgotten first.
type recentIDs struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

// firstTime records id and reports whether it was not among the ids remembered.
func (r *recentIDs) firstTime(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.set[id]; dup {
		return false
	}
	if r.set == nil {
		r.set = make(map[string]struct{}, recentPublishes)
		r.ring = make([]string, recentPublishes)
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % recentPublishes
	r.set[id] = struct{}{}
	return true
}
