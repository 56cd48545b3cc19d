package signaling_test

import (
	"context"
	"testing"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// source is a store the hooks read at a start; a pointer, so comparable.
type source struct{ reads int }

// TestStartValueSharedByTheHooksOfOneStart: hooks of one start that pass the same key share one
// load; another key, a key that is not comparable, a later start and a call outside a start's
// hooks each load again.
func TestStartValueSharedByTheHooksOfOneStart(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, nil)
	shared, other := &source{}, &source{}
	var uncomparable []int // a slice: not comparable
	unshared := 0
	got := make(chan []any, 1)
	read := func(s *signaling.Session, key any, src *source) any {
		v, err := s.StartValue(key, func() (any, error) { src.reads++; return src.reads, nil })
		is.NoErr(err) // load does not fail
		return v
	}
	var values []any
	for _, stage := range []signaling.Stage{signaling.StageSubscribe, signaling.StageCatchUp, signaling.StageSnapshot} {
		n.OnSessionAt(stage, func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
			if ev != signaling.SessionConnected {
				return
			}
			values = append(values, read(s, shared, shared), read(s, other, other))
			if _, err := s.StartValue(uncomparable, func() (any, error) { unshared++; return nil, nil }); err != nil {
				t.Error(err)
			}
			if stage == signaling.StageSnapshot {
				v := values
				values = nil // before the send: the next start's hooks may run as soon as it is received
				got <- v
			}
		})
	}
	signalingtest.Connect(t, n, signaling.User{ID: "u1"}, nil).Expect("session", wait)
	is.Equal(<-got, []any{1, 1, 1, 1, 1, 1}) // each key loaded once for the three hooks
	is.Equal(shared.reads, 1)                // one read of each source
	is.Equal(other.reads, 1)                 // a key of its own: not the shared one's value
	is.Equal(unshared, 3)                    // a key that is not comparable is loaded each time

	signalingtest.Connect(t, n, signaling.User{ID: "u1"}, nil).Expect("session", wait)
	is.Equal(<-got, []any{2, 2, 2, 2, 2, 2}) // a new start reads again

	is.NoErr(n.Handle("read", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		v1, v2 := read(s, shared, shared), read(s, shared, shared)
		return s.Reply(ctx, e, "read", []any{v1, v2})
	}))) // the event had no handler yet
	c := signalingtest.Connect(t, n, signaling.User{ID: "u2"}, nil)
	<-got
	c.Send("read", nil)
	var vs []int
	is.NoErr(c.Expect("read", wait).Bind(&vs)) // the reply
	is.Equal(vs, []int{4, 5})                  // outside a start's hooks, every call loads
}
