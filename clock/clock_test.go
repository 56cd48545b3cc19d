package clock_test

import (
	"testing"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/matryer/is"
)

func TestManual(t *testing.T) {
	is := is.New(t)
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	m := clock.NewManual(start)
	var fired []string
	m.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	m.AfterFunc(time.Second, func() {
		fired = append(fired, "a")
		m.AfterFunc(500*time.Millisecond, func() { fired = append(fired, "a2") }) // scheduled by a timer
	})
	stopped := m.AfterFunc(1500*time.Millisecond, func() { fired = append(fired, "never") })
	is.True(stopped.Stop())  // a pending timer stops
	is.True(!stopped.Stop()) // once
	is.Equal(m.Pending(), 2) // two left

	m.Advance(999 * time.Millisecond)
	is.Equal(len(fired), 0) // nothing is due yet
	m.Advance(time.Second)
	is.Equal(fired, []string{"a", "a2"})                // in time order, including one scheduled meanwhile
	is.Equal(m.Now(), start.Add(1999*time.Millisecond)) // the clock moved by exactly the advances
	m.Advance(time.Second)
	is.Equal(fired, []string{"a", "a2", "b"}) // the last one
	is.Equal(m.Pending(), 0)                  // nothing left
}

func TestOr(t *testing.T) {
	is := is.New(t)
	_, real := clock.Or(nil).(clock.Real)
	is.True(real) // nil means the wall clock
	m := clock.NewManual(time.Now())
	is.Equal(clock.Or(m), clock.Clock(m)) // a given clock is kept
}
