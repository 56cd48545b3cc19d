package serial_test

import (
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/internal/serial"
	"github.com/matryer/is"
)

func TestQueueRunsInOrderOneAtATime(t *testing.T) {
	is := is.New(t)
	var q serial.Queue
	var mu sync.Mutex
	var got []int
	running := 0
	for i := range 1000 {
		q.Do(func() {
			mu.Lock()
			running++
			is.Equal(running, 1) // never two at once
			got = append(got, i)
			running--
			mu.Unlock()
		})
	}
	select {
	case <-q.Idle():
	case <-time.After(5 * time.Second):
		t.Fatal("queue did not drain")
	}
	mu.Lock()
	defer mu.Unlock()
	is.Equal(len(got), 1000)
	for i, v := range got {
		is.Equal(v, i) // in order
	}
}
