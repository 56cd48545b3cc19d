package sqlchat_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/sqlchat"
)

// BenchmarkAppend measures stored messages per second with many concurrent senders, as the chat
// Service appends them (one goroutine per session handling a `message`): group commit makes
// them share transactions. Run with -cpu to vary the parallelism and -benchtime to lengthen.
//
//	go test -run '^$' -bench Append -benchtime 20000x ./chat/sqlchat/
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) chat.Store
	}{
		{"memory", func(*testing.B) chat.Store { return chat.NewMemoryStore(nil) }},
		{"sqlite-normal", func(b *testing.B) chat.Store { return benchSQLite(b, "NORMAL") }},
		{"sqlite-full", func(b *testing.B) chat.Store { return benchSQLite(b, "FULL") }},
	} {
		for _, senders := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/senders=%d", tc.name, senders), func(b *testing.B) {
				st := tc.store(b)
				ctx := context.Background()
				b.SetParallelism(senders) // × GOMAXPROCS goroutines
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						id, _ := uuid.NewV7()
						m := chat.Message{ID: id.String(), RoomID: fmt.Sprint("room", i%10), Content: "hello, room",
							Sender: alice, ClientMsgID: id.String()}
						if _, _, err := st.Append(ctx, m); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/msg")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far: with -cpu 1 it is what one core
// spends per message, whatever else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchSQLite(b *testing.B, sync string) *sqlchat.Store {
	s, err := sqlchat.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"),
		&sqlchat.SQLiteOptions{Synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkIsMember measures the membership check the Service makes for every message.
//
//	go test -run '^$' -bench IsMember ./chat/sqlchat/
func BenchmarkIsMember(b *testing.B) {
	st := benchSQLite(b, "NORMAL")
	ctx := context.Background()
	for i := range 100 {
		if err := st.Join(ctx, fmt.Sprint("room", i%10), signalingUser(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := st.IsMember(ctx, fmt.Sprint("room", i%10), fmt.Sprint("u", i%100)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
