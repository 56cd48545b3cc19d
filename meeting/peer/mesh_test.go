package peer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/matryer/is"
)

// BenchmarkMesh measures, for meshes of 2, 4 and 6 peers over loopback through a real server,
// how long it takes from the moment the others start joining (the host has started) until
// every pair is connected with its data channel open (ms/mesh; ns/op also counts starting a
// server and dialing the peers). Run it with
//
//	go test -run '^$' -bench BenchmarkMesh -benchtime 3x ./meeting/peer/
func BenchmarkMesh(b *testing.B) {
	for _, n := range []int{2, 4, 6} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			is := is.New(b)
			checkNoLeaks(b)
			var total time.Duration
			round := 0
			for b.Loop() {
				func() {
					ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
					defer cancel()
					room := fmt.Sprintf("r%d", round)
					round++
					srv := newTestServer(b, nil, room)
					var peers []*testPeer
					for i := range n {
						peers = append(peers, dialPeer(ctx, b, srv, fmt.Sprintf("u%d", i), nil))
					}
					total += startMesh(ctx, b, room, peers)
					for _, p := range peers {
						is.NoErr(p.Leave(ctx)) // leave cleanly before the next round
					}
				}()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(round), "ms/mesh")
		})
	}
}
