package sqlchat_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// BenchmarkChatAck measures the chat acknowledgement (a `message` sent → the sender's copy
// back) through a real Node and chat.Service, open-loop at 5000 messages per second spread
// over 200 sessions (one room each, so that the store and not the fan-out is measured), on
// the memory store and on SQLite. It reports the ack latency percentiles; b.N is the number of
// messages (-benchtime 10000x is 2 s of load).
//
//	go test -run '^$' -bench ChatAck -benchtime 10000x ./chat/sqlchat/
func BenchmarkChatAck(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) chat.Store
	}{
		{"memory", func(*testing.B) chat.Store { return chat.NewMemoryStore(nil) }},
		{"sqlite", func(b *testing.B) chat.Store { return benchSQLite(b, "NORMAL") }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const clients, rate = 200, 5000.0
			st := tc.store(b)
			node := signaling.NewNode(&signaling.NodeOptions{RateLimit: 1000, RateBurst: 1000})
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = node.Shutdown(ctx)
			})
			members, _ := st.(chat.Membership)
			chat.New(node, &chat.Options{Store: st, Membership: members})
			cs := make([]*signalingtest.Client, clients)
			for i := range cs {
				cs[i] = signalingtest.Connect(b, node, signaling.User{ID: fmt.Sprint("u", i), Username: "U"}, nil)
				cs[i].Expect("session", 5*time.Second)
				cs[i].Send("join_room", map[string]string{"roomId": fmt.Sprint("r", i)})
				cs[i].Expect("room_joined", 5*time.Second)
			}
			due := make([]chan time.Time, clients)
			for i := range due {
				due[i] = make(chan time.Time, 1024)
			}
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			var wg sync.WaitGroup
			per := max(1, b.N/clients)
			b.ResetTimer()
			for i, c := range cs {
				wg.Go(func() {
					for k := 0; k < per; k++ {
						at := <-due[i]
						c.Send("message", map[string]string{"roomId": fmt.Sprint("r", i), "content": "hello", "clientMsgId": fmt.Sprint(k)})
						c.Expect("message", 30*time.Second)
						d := time.Since(at)
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				})
			}
			start := time.Now()
			interval := time.Duration(float64(time.Second) / rate)
			for k := 0; k < per*clients; k++ {
				at := start.Add(time.Duration(k) * interval)
				if d := time.Until(at); d > 0 {
					time.Sleep(d) // pacing the open-loop load, not synchronisation
				}
				due[k%clients] <- at
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(len(lat))/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}
