package presence_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/huddle-go/huddle/presence"
	"github.com/matryer/is"
)

// TestMemoryStoreForgetsLongOfflineUsers: every user who ever connected cost the memory store
// about 440 B for ever; now it remembers at most MaxOfflineUsers offline users, forgetting the
// longest offline first.
func TestMemoryStoreForgetsLongOfflineUsers(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m := presence.NewMemoryStore(&presence.MemoryOptions{MaxOfflineUsers: 10})
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	_, err := m.AddSession(ctx, "stays", "s-stays", "n1")
	is.NoErr(err)
	for i := range 100 {
		id := fmt.Sprintf("u%03d", i)
		_, err := m.AddSession(ctx, id, "s-"+id, "n1")
		is.NoErr(err)
		last, err := m.RemoveSession(ctx, id, "s-"+id, t0.Add(time.Duration(i)*time.Second))
		is.NoErr(err)
		is.True(last)                    // offline
		is.True(m.Stats().Offline <= 10) // never more than the bound
	}
	st := m.Stats()
	is.True(st.Users <= 11) // the online user and at most 10 offline
	is.Equal(st.Forgotten, int64(100-st.Offline))

	got, err := m.Get(ctx, []string{"u099", "u000", "stays"})
	is.NoErr(err)
	is.Equal(got[0].Status, presence.StatusOffline)
	is.True(got[0].LastSeen.Equal(t0.Add(99 * time.Second)))                         // the latest is remembered
	is.Equal(got[1], presence.Entry{UserID: "u000", Status: presence.StatusOffline}) // the first is forgotten, as if never seen
	is.Equal(got[2].Status, presence.StatusOnline)                                   // online users are never forgotten

	// Coming back online and leaving again is counted once.
	_, err = m.AddSession(ctx, "u099", "s2", "n1")
	is.NoErr(err)
	is.Equal(m.Stats().Offline, st.Offline-1)
	_, err = m.RemoveNode(ctx, "n1", t0.Add(time.Hour)) // u099 and "stays" go offline with the node
	is.NoErr(err)
	is.True(m.Stats().Offline <= 10)
	got, err = m.Get(ctx, []string{"u099", "stays"})
	is.NoErr(err)
	is.True(got[0].LastSeen.Equal(t0.Add(time.Hour)) && got[1].LastSeen.Equal(t0.Add(time.Hour))) // the newest offline stay

	unbounded := presence.NewMemoryStore(&presence.MemoryOptions{MaxOfflineUsers: -1})
	for i := range 50 {
		id := fmt.Sprint(i)
		_, _ = unbounded.AddSession(ctx, id, id, "n")
		_, _ = unbounded.RemoveSession(ctx, id, id, t0)
	}
	is.Equal(unbounded.Stats().Offline, 50) // negative: no bound
	is.Equal(presence.NewMemoryStore(nil).Stats(), presence.MemoryStats{})
}

// BenchmarkMemoryStoreOfflineUser reports what the store keeps for each offline user it
// remembers (B/user): one session added and removed per user, all under the bound.
func BenchmarkMemoryStoreOfflineUser(b *testing.B) {
	ctx := context.Background()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%08d", i)
	}
	m := presence.NewMemoryStore(&presence.MemoryOptions{MaxOfflineUsers: -1})
	at := time.Now()
	before := heapInUse()
	b.ResetTimer()
	for i := range b.N {
		_, _ = m.AddSession(ctx, ids[i], "s", "n")
		_, _ = m.RemoveSession(ctx, ids[i], "s", at)
	}
	b.StopTimer()
	b.ReportMetric(float64(heapInUse()-before)/float64(b.N), "B/user")
	if m.Stats().Offline != b.N {
		b.Fatal("users lost")
	}
}

func heapInUse() int64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return int64(s.HeapAlloc)
}
