package presence

import (
	"context"
)

// OnChange adds f to the functions called with each change of a user's aggregate status, after
// Options.OnChange and those added before, with the same guarantees (see Options.OnChange): one
// call at a time, in the order of the changes, under no lock, each bounded by 10 s, a panic
// logged. It is how a sibling that is created after the Tracker hooks in (the root package
// huddle has the meeting service learn of offline users so). Changes made before f was added
// are not replayed to it: add it before the Tracker's Hub serves. Safe for concurrent use.
func (t *Tracker) OnChange(f func(ctx context.Context, e Entry)) {
	if f == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Copy on write: changed reads a snapshot.
	t.onChange = append(t.onChange[:len(t.onChange):len(t.onChange)], f)
}

// changed queues the OnChange calls of a change, and starts the goroutine that runs the queue
// unless it runs. Callers hold the user's lock, so the calls of one user keep the order of its
// changes; the calls themselves run under no lock. The goroutine exits when the queue is empty.
func (t *Tracker) changed(ctx context.Context, e Entry) {
	ctx = context.WithoutCancel(ctx)
	t.mu.Lock()
	if len(t.onChange) == 0 {
		t.mu.Unlock()
		return
	}
	for _, f := range t.onChange {
		t.changes = append(t.changes, func() {
			ctx, cancel := context.WithTimeout(ctx, onChangeTimeout)
			defer cancel()
			f(ctx, e)
		})
	}
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
