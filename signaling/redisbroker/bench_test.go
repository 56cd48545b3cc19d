package redisbroker_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/signaling"
)

// sinkConn is a server-side Conn that counts frames and signals when a target is reached.
type sinkConn struct {
	count  *atomic.Int64
	target *atomic.Int64
	done   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (c *sinkConn) Read(ctx context.Context) ([]byte, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, &signaling.CloseError{Code: signaling.StatusNormalClosure}
	}
}

func (c *sinkConn) Write(context.Context, []byte) error {
	if c.count.Add(1) == c.target.Load() {
		c.done <- struct{}{}
	}
	return nil
}

func (c *sinkConn) Close(signaling.StatusCode, string) error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// BenchmarkFanOutAcrossNodes publishes one event from node A to a room of 1000 sessions and
// waits until all are written: on one node with the memory broker, and split over two nodes
// sharing Redis (half the sessions on each). It reports the publish-to-last-delivery latency.
func BenchmarkFanOutAcrossNodes(b *testing.B) {
	const sessions = 1000
	for _, mode := range []string{"memory-1node", "redis-2nodes"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			var nodes []*signaling.Node
			switch mode {
			case "memory-1node":
				nodes = []*signaling.Node{signaling.NewNode(&signaling.NodeOptions{QueueBytes: 64 << 20})}
			default:
				addr := redistest.Addr(b)
				prefix := redistest.Prefix(b)
				for _, id := range []string{"a", "b"} {
					br := newBroker(b, redistest.Client(b, addr, prefix), prefix)
					nodes = append(nodes, signaling.NewNode(&signaling.NodeOptions{ID: id, Broker: br, QueueBytes: 64 << 20}))
				}
			}
			var count, target atomic.Int64
			done := make(chan struct{}, 1)
			var wg sync.WaitGroup
			var conns []*sinkConn
			for i := 0; i < sessions; i++ {
				c := &sinkConn{count: &count, target: &target, done: done, closed: make(chan struct{})}
				conns = append(conns, c)
				node := nodes[i%len(nodes)]
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					_ = node.Serve(ctx, c, signaling.User{ID: fmt.Sprintf("u%d", i)}, nil)
				}(i)
			}
			target.Store(sessions)
			<-done // every session frame written
			for i := 0; i < sessions; i++ {
				node := nodes[i%len(nodes)]
				for _, s := range node.LocalSessions(fmt.Sprintf("u%d", i)) {
					if err := node.Subscribe(ctx, s.ID(), "room:bench"); err != nil {
						b.Fatal(err)
					}
				}
			}
			// Warm up until a publish reaches every session (Redis subscriptions are confirmed
			// asynchronously).
			count.Store(0)
			var sent int64
			for warm := true; warm; {
				sent++
				target.Store(sent * sessions)
				_ = nodes[0].Publish(ctx, "room:bench", signaling.Envelope{Event: "warm", Data: sent})
				select {
				case <-done:
					warm = false
				case <-time.After(50 * time.Millisecond):
					count.Store(0)
					sent = 0
				}
			}
			count.Store(0)
			sent = 0
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				sent++
				target.Store(sent * sessions)
				start := time.Now()
				if err := nodes[0].Publish(ctx, "room:bench", signaling.Envelope{Event: "message", Data: map[string]string{"content": "hello, world"}}); err != nil {
					b.Fatal(err)
				}
				<-done
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(sent*sessions)/b.Elapsed().Seconds(), "deliveries/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			for _, c := range conns {
				_ = c.Close(signaling.StatusNormalClosure, "")
			}
			wg.Wait()
			for _, n := range nodes {
				_ = n.Shutdown(ctx)
			}
		})
	}
}
