package presence

import (
	"context"
)

// changed queues the OnChange call of a change, and starts the goroutine that runs the queue
// unless it runs. Callers hold the user's lock, so the calls of one user keep the order of its
// changes; the call itself runs under no lock. The goroutine exits when the queue is empty.
func (t *Tracker) changed(ctx context.Context, e Entry) {
	if t.onChange == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	call := func() {
		ctx, cancel := context.WithTimeout(ctx, onChangeTimeout)
		defer cancel()
		t.onChange(ctx, e)
	}
	t.mu.Lock()
	t.changes = append(t.changes, call)
	if t.notifying != nil {
		t.mu.Unlock()
		return
	}
	done := make(chan struct{})
	t.notifying = done
	t.mu.Unlock()
	go func() {
		defer close(done)
		for {
			t.mu.Lock()
			if len(t.changes) == 0 {
				t.notifying = nil
				t.mu.Unlock()
				return
			}
			call := t.changes[0]
			t.changes[0] = nil
			t.changes = t.changes[1:]
			t.mu.Unlock()
			t.runChange(call)
		}
	}()
}

// runChange runs one OnChange call; a panic is logged, so that the calls after it still run.
func (t *Tracker) runChange(call func()) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("presence: OnChange panicked", "panic", r)
		}
	}()
	call()
}
