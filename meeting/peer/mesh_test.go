package peer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestMeshTimes measures, for meshes of 2, 4 and 6 peers over loopback through a real server,
// how long it takes from the moment the others start joining (the host has started) until
// every pair is connected with its data channel open. It logs the figures; run it with
//
//	go test -race -run TestMeshTimes -v ./meeting/peer/
func TestMeshTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement; skipped with -short")
	}
	const rounds = 3
	for _, n := range []int{2, 4, 6} {
		t.Run(fmt.Sprintf("%d peers", n), func(t *testing.T) {
			is := is.New(t)
			checkNoLeaks(t)
			var times []time.Duration
			for round := range rounds {
				func() {
					ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
					defer cancel()
					room := fmt.Sprintf("r%d", round)
					srv := newTestServer(t, nil, room)
					var peers []*testPeer
					for i := range n {
						peers = append(peers, dialPeer(ctx, t, srv, fmt.Sprintf("u%d", i), nil))
					}
					times = append(times, startMesh(ctx, t, room, peers))
					for _, p := range peers {
						is.NoErr(p.Leave(ctx)) // leave cleanly before the next round
					}
				}()
			}
			slices.Sort(times)
			t.Logf("%d peers, %d pairs: join to all connected: min %v, median %v, max %v (%d rounds)",
				n, n*(n-1)/2, times[0].Round(time.Millisecond), times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), rounds)
		})
	}
}
