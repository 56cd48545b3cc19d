package turnserver_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/turnserver"
)

// BenchmarkRelay measures what one allocation relays on loopback: a Pion TURN client sends
// 1200-byte datagrams (a video RTP packet's size) through its relay to a plain UDP peer, at
// most two windows of 64 in flight, over UDP or TCP to the server. recv-MB/s is the goodput
// the peer receives (MB/s: what the client sent); loss-% is what did not arrive within 50 ms
// of its window.
//
//	go test -run '^$' -bench Relay -benchtime 50000x -count 3 ./signaling/turnserver
func BenchmarkRelay(b *testing.B) {
	for _, network := range []string{"udp", "tcp"} {
		b.Run(network, func(b *testing.B) {
			srv := listen(b, &turnserver.Options{Secret: secret, BytesPerSecond: -1})
			user, cred := signaling.TURNCredentials(secret, "bench", time.Now().Add(time.Hour))
			a, err := allocate(b, srv, network, user, cred)
			if err != nil {
				b.Fatal(err)
			}
			peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer peer.Close()
			_ = peer.(*net.UDPConn).SetReadBuffer(4 << 20)
			var received atomic.Int64
			arrived := make(chan struct{}, 1)
			go func() {
				buf := make([]byte, 2048)
				for {
					if _, _, err := peer.ReadFrom(buf); err != nil {
						return
					}
					received.Add(1)
					select {
					case arrived <- struct{}{}:
					default:
					}
				}
			}()
			const size, window = 1200, 64
			packet := make([]byte, size)
			// The first datagram creates the permission (and Pion then binds a channel).
			if _, err := a.relay.WriteTo(packet, peer.LocalAddr()); err != nil {
				b.Fatal(err)
			}
			waitArrived(&received, arrived, 1, time.Second)
			received.Store(0)
			b.SetBytes(size)
			b.ResetTimer()
			start := time.Now()
			for i := 1; i <= b.N; i++ {
				if _, err := a.relay.WriteTo(packet, peer.LocalAddr()); err != nil {
					b.Fatal(err)
				}
				if i%window == 0 {
					waitArrived(&received, arrived, int64(i-window), 50*time.Millisecond)
				}
			}
			waitArrived(&received, arrived, int64(b.N), 50*time.Millisecond)
			elapsed := time.Since(start)
			b.StopTimer()
			got := received.Load()
			b.ReportMetric(float64(got*size)/elapsed.Seconds()/1e6, "recv-MB/s")
			b.ReportMetric(100*float64(int64(b.N)-got)/float64(b.N), "loss-%")
		})
	}
}

// waitArrived waits until received reaches n, or d passes without a new datagram.
func waitArrived(received *atomic.Int64, arrived <-chan struct{}, n int64, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for received.Load() < n {
		select {
		case <-arrived:
			t.Reset(d)
		case <-t.C:
			return
		}
	}
}
