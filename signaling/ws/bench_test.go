package ws_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

// rawClient is a WebSocket client that only counts the server's messages: a bare TCP
// connection, the upgrade written by hand, frames parsed in place. It allocates nothing per
// frame, so that a benchmark's allocations are the server's.
type rawClient struct {
	conn    net.Conn
	msgs    atomic.Int64
	target  atomic.Int64 // reached is signalled when msgs gets here
	reached chan struct{}
	done    chan struct{}
}

func dialRaw(b *testing.B, addr, query string) *rawClient {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET /ws?" + query + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("upgrade: %v %v", resp, err)
	}
	rc := &rawClient{conn: c, done: make(chan struct{}), reached: make(chan struct{}, 1)}
	rc.target.Store(1) // the session frame
	go rc.read(br)
	return rc
}

// read counts complete messages (final frames) until the connection ends.
func (c *rawClient) read(br *bufio.Reader) {
	defer close(c.done)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return
		}
		fin := hdr[0]&0x80 != 0
		op := hdr[0] & 0x0f
		n := int64(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				return
			}
			n = int64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				return
			}
			n = int64(binary.BigEndian.Uint64(hdr[:8]))
		}
		if _, err := br.Discard(int(n)); err != nil {
			return
		}
		if op == 8 { // close
			return
		}
		if fin && op < 8 && c.msgs.Add(1) >= c.target.Load() {
			select {
			case c.reached <- struct{}{}:
			default:
			}
		}
	}
}

// BenchmarkWriterWebSocket measures delivery through the real transport: a Node behind
// ws.Handler, N sessions over loopback TCP, each publish delivered (seq stamped) to all of
// them. ns/delivery and allocs/delivery are the server's cost per delivered frame, publish
// included (one encode per publish, shared by the N deliveries).
func BenchmarkWriterWebSocket(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			node := signaling.NewNode(&signaling.NodeOptions{QueueBytes: 64 << 20})
			srv := httptest.NewServer(mustHandler(b, node, &ws.Options{Authenticator: signaling.DevAuthenticator{}, PingInterval: -1}))
			defer srv.Close()
			addr := strings.TrimPrefix(srv.URL, "http://")
			clients := make([]*rawClient, n)
			for i := range clients {
				clients[i] = dialRaw(b, addr, fmt.Sprintf("user=u%d", i))
			}
			ctx := context.Background()
			for i, c := range clients {
				for c.msgs.Load() < 1 {
					<-c.reached // the session frame
				}
				for _, s := range node.LocalSessions(fmt.Sprintf("u%d", i)) {
					if err := node.Subscribe(ctx, s.ID(), "room:bench"); err != nil {
						b.Fatal(err)
					}
				}
			}
			ev := signaling.Envelope{Event: "message", Data: json.RawMessage(`{"id":"0190f5b2-7c1e-7cc0-9a3b-1d2e3f405162","roomId":"bench","content":"hello, world - a typical chat line","sender":{"id":"alice","username":"Alice"}}`)}
			// Publish in windows of 32 and wait for every client to have them all: the writers
			// find several frames queued (batches), and the queues stay bounded.
			const window = 32
			var sent int64
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for b.Loop() {
				if err := node.Publish(ctx, "room:bench", ev); err != nil {
					b.Fatal(err)
				}
				sent++
				if sent%window == 0 {
					for _, c := range clients {
						c.target.Store(sent + 1)
					}
					for _, c := range clients {
						for c.msgs.Load() < sent+1 {
							<-c.reached
						}
					}
				}
			}
			for _, c := range clients {
				c.target.Store(sent + 1)
			}
			for _, c := range clients {
				for c.msgs.Load() < sent+1 {
					<-c.reached
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			deliveries := float64(sent * int64(n))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
			var wg sync.WaitGroup
			for _, c := range clients {
				wg.Add(1)
				go func() { defer wg.Done(); _ = c.conn.Close(); <-c.done }()
			}
			wg.Wait()
			_ = node.Shutdown(ctx)
		})
	}
}
