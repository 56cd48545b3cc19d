package signaling_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/huddle-go/huddle/signaling"
)

type benchMessage struct {
	ID        string         `json:"id"`
	RoomID    string         `json:"roomId"`
	Content   string         `json:"content"`
	Sender    signaling.User `json:"sender"`
	CreatedAt string         `json:"createdAt"`
}

var benchEnvelope = signaling.Envelope{Event: "message", Data: benchMessage{
	ID: "0190f5b2-7c1e-7cc0-9a3b-1d2e3f405162", RoomID: "lobby", Content: "hello, world — a typical chat line",
	Sender: signaling.User{ID: "alice", Username: "Alice"}, CreatedAt: "2026-11-25T10:00:00.000Z",
}}

func BenchmarkCodec(b *testing.B) {
	for _, c := range []signaling.Codec{signaling.JSON, signaling.JSONPayload} {
		b.Run("encode/"+c.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(benchEnvelope); err != nil {
					b.Fatal(err)
				}
			}
		})
		frame := []byte(`{"event":"message","data":{"roomId":"lobby","content":"hello, world","clientMsgId":"c-1"},"ref":"7"}`)
		b.Run("decode/"+c.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e, err := c.Decode(frame)
				if err != nil || e.Event != "message" {
					b.Fatal(err)
				}
			}
		})
	}
}

// countConn is a server-side Conn that discards frames and counts them; Read blocks until Close.
type countConn struct {
	n      *atomic.Int64
	done   chan struct{}
	closed chan struct{}
	once   sync.Once
	target *atomic.Int64
}

func (c *countConn) Read(ctx context.Context) ([]byte, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, &signaling.CloseError{Code: signaling.StatusNormalClosure}
	}
}

func (c *countConn) Write(_ context.Context, frame []byte) error {
	if c.n.Add(1) == c.target.Load() {
		c.done <- struct{}{}
	}
	return nil
}

func (c *countConn) Close(signaling.StatusCode, string) error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// BenchmarkFanOut publishes one event to a topic with N subscribed sessions and waits until every
// session's writer has written it. ns/op is the cost of one broadcast; allocs/op divided by N is
// the allocations per delivery.
func BenchmarkFanOut(b *testing.B) {
	for _, seq := range []bool{true, false} {
		for _, n := range []int{1, 100, 1000} {
			name := fmt.Sprintf("seq=%v/sessions=%d", seq, n)
			b.Run(name, func(b *testing.B) {
				opts := &signaling.NodeOptions{QueueBytes: 64 << 20}
				if !seq {
					opts.ResumeWindow = -1
				}
				node := signaling.NewNode(opts)
				var count, target atomic.Int64
				done := make(chan struct{}, 1)
				conns := make([]*countConn, n)
				var wg sync.WaitGroup
				for i := range conns {
					c := &countConn{n: &count, done: done, closed: make(chan struct{}), target: &target}
					conns[i] = c
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						_ = node.Serve(context.Background(), c, signaling.User{ID: fmt.Sprintf("u%d", i)}, nil)
					}(i)
				}
				// Wait for the session frames, then subscribe everyone.
				target.Store(int64(n))
				<-done
				ctx := context.Background()
				for i := 0; i < n; i++ {
					for _, s := range node.LocalSessions(fmt.Sprintf("u%d", i)) {
						if err := node.Subscribe(ctx, s.ID(), "room:bench"); err != nil {
							b.Fatal(err)
						}
					}
				}
				count.Store(0)
				b.ReportAllocs()
				b.ResetTimer()
				var sent int64
				for b.Loop() {
					sent++
					target.Store(sent * int64(n))
					if err := node.Publish(ctx, "room:bench", benchEnvelope); err != nil {
						b.Fatal(err)
					}
					<-done
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent*int64(n)), "ns/delivery")
				for _, c := range conns {
					_ = c.Close(signaling.StatusNormalClosure, "")
				}
				wg.Wait()
				_ = node.Shutdown(ctx)
			})
		}
	}
}
