// Package clock provides a Clock with a real and a manual implementation, so that timers in
// Huddle (resume windows, meeting graces, typing auto-stop) are tested without sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and schedules functions. Implementations are safe for concurrent use.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, unless the returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled call made by AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not started and reports whether it did so.
	Stop() bool
}

// Real is the wall clock, backed by package time.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Or returns c, or Real when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Manual is a Clock that moves only when Advance is called. Due functions run synchronously
// inside Advance, in time order, so a test sees their effects when Advance returns.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
	seq    int
}

// NewManual returns a Manual clock set to start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

type manualTimer struct {
	m       *Manual
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

// Now returns the manual time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// AfterFunc schedules f at Now()+d.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	t := &manualTimer{m: m, at: m.now.Add(d), seq: m.seq, f: f}
	m.timers = append(m.timers, t)
	return t
}

// Stop cancels the timer.
func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	for i, o := range t.m.timers {
		if o == t {
			t.m.timers = append(t.m.timers[:i], t.m.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Pending reports how many timers are scheduled and not yet fired or stopped.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

// Advance moves the clock forward by d, running every timer that falls due, including timers
// scheduled by those timers within the same span.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	end := m.now.Add(d)
	m.mu.Unlock()
	for {
		m.mu.Lock()
		sort.SliceStable(m.timers, func(i, j int) bool {
			if m.timers[i].at.Equal(m.timers[j].at) {
				return m.timers[i].seq < m.timers[j].seq
			}
			return m.timers[i].at.Before(m.timers[j].at)
		})
		if len(m.timers) == 0 || m.timers[0].at.After(end) {
			m.now = end
			m.mu.Unlock()
			return
		}
		t := m.timers[0]
		m.timers = m.timers[1:]
		t.stopped = true
		if t.at.After(m.now) {
			m.now = t.at
		}
		m.mu.Unlock()
		t.f()
	}
}
