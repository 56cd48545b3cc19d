package huddle_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// BenchmarkRetainedPerUser reports the memory (B/user) that a node with chat, meeting and
// presence on memory stores keeps for each new user who connects once and leaves: under-bound,
// while presence remembers every offline user's last-seen time; over-bound, once more users
// have come and gone than presence.MemoryOptions.MaxOfflineUsers (1000 here), which it forgets.
func BenchmarkRetainedPerUser(b *testing.B) {
	for _, tc := range []struct {
		name  string
		bound int
	}{{"under-bound", -1}, {"over-bound", 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			node := signaling.NewNode(&signaling.NodeOptions{ResumeWindow: -1})
			rooms := chat.NewMemoryStore(nil)
			cs, err := chat.New(node, &chat.Options{Store: rooms, Membership: rooms})
			if err != nil {
				b.Fatal(err)
			}
			ms, err := meeting.New(node, &meeting.Options{Members: rooms, RoomTopic: chat.RoomTopic})
			if err != nil {
				b.Fatal(err)
			}
			ps, err := presence.New(node, &presence.Options{Rooms: rooms, RoomTopic: chat.RoomTopic, Store: presence.NewMemoryStore(&presence.MemoryOptions{MaxOfflineUsers: tc.bound})})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				_ = node.Shutdown(context.Background())
				ms.Close()
				ps.Close()
				_ = cs.Close()
			}()
			n := 0
			cycle := func() {
				srv, cl := signalingtest.Pipe()
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = node.Serve(context.Background(), srv, signaling.User{ID: fmt.Sprintf("user-%08d", n), Username: "U"}, nil)
				}()
				n++
				_, _ = cl.Read(context.Background()) // the session frame: the hooks have run
				_ = cl.Close(signaling.StatusNormalClosure, "")
				<-done
			}
			for range 2000 { // warm up, and fill the over-bound store past its bound
				cycle()
			}
			before := heapAlloc()
			b.ResetTimer()
			for range b.N {
				cycle()
			}
			b.StopTimer()
			b.ReportMetric(float64(heapAlloc()-before)/float64(b.N), "B/user")
		})
	}
}

func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return int64(s.HeapAlloc)
}
