// Package serial runs functions one at a time, in the order they were queued, on a goroutine
// that exists only while there is work: an idle Queue costs no goroutine.
package serial

import "sync"

// Queue is a serial work queue. The zero value is ready to use; it is safe for concurrent use.
type Queue struct {
	mu      sync.Mutex
	work    []func()
	running bool
	idle    chan struct{} // closed when the queue empties; nil when nobody waits
}

// Do queues f. It never blocks: f runs after everything queued before it, on the queue's
// goroutine, which is started if none is running and exits once the queue is empty.
func (q *Queue) Do(f func()) {
	q.mu.Lock()
	q.work = append(q.work, f)
	if q.running {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	go q.run()
}

func (q *Queue) run() {
	for {
		q.mu.Lock()
		if len(q.work) == 0 {
			q.running = false
			q.work = nil
			if q.idle != nil {
				close(q.idle)
				q.idle = nil
			}
			q.mu.Unlock()
			return
		}
		f := q.work[0]
		q.work[0] = nil
		q.work = q.work[1:]
		q.mu.Unlock()
		f()
	}
}

// Idle returns a channel that is closed once nothing is queued or running (at once if the
// queue is idle now).
func (q *Queue) Idle() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.running {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	return q.idle
}
