package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFanOutE2E is the reference server's chat path end to end, for CPU profiles and
// allocation counts: the server (auth, chat on the memory store or SQLite, seq and resume,
// presence) on loopback, clients that speak raw WebSocket frames and only count what they
// receive (they allocate nothing per frame, so the allocations are the server's). One
// iteration is one `message` sent by a room member and delivered to every member of its room,
// the sender included; messages go out one per room at a time and each round waits for all
// its deliveries, so the writers find frames queued as under load.
//
//	go test -run '^$' -bench FanOutE2E -benchtime 20000x -cpuprofile cpu.out ./examples/server/
func BenchmarkFanOutE2E(b *testing.B) {
	for _, tc := range []struct {
		name         string
		rooms, peers int
		args         []string
	}{
		{"memory/100x10", 100, 10, []string{"-data", "memory"}},
		{"memory/1x500", 1, 500, []string{"-data", "memory"}},
		{"sqlite/100x10", 100, 10, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			args := append([]string{"-dev-auth", "-max-conns-per-ip", "-1", "-upgrade-rate", "-1"}, tc.args...)
			if tc.args == nil {
				args = append(args, "-data", b.TempDir()+"/bench.db")
			}
			ts := startServer(b, args...)
			addr := strings.TrimPrefix(ts.URL, "http://")
			rooms := make([][]*frameClient, tc.rooms)
			var all []*frameClient
			for r := range rooms {
				for p := range tc.peers {
					c := dialFrames(b, addr, fmt.Sprintf("user=u%d-%d&name=U", r, p))
					c.send(b, fmt.Sprintf(`{"event":"join_room","data":{"roomId":"r%d"}}`, r))
					c.waitEvent(b, "room_joined")
					rooms[r] = append(rooms[r], c)
					all = append(all, c)
				}
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			content := strings.Repeat("x", 48)
			per := max(1, 10/tc.rooms) // messages per room and round: the big room gets 10
			sent := 0
			cpu0 := cpuTime()
			b.ResetTimer()
			for sent < b.N {
				round := min(len(rooms)*per, b.N-sent)
				for i := range round {
					k := sent + i
					r := k % len(rooms)
					c := rooms[r][(k/len(rooms))%tc.peers]
					c.send(b, fmt.Sprintf(`{"event":"message","data":{"roomId":"r%d","content":"%s","clientMsgId":"%d"}}`, r, content, k))
					for _, m := range rooms[r] {
						m.want++
					}
				}
				sent += round
				for _, c := range all {
					c.waitMessages(b, c.want)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			deliveries := float64(sent * tc.peers)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
			b.ReportMetric(float64(cpuTime()-cpu0)/deliveries, "cpu-ns/delivery")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
			for _, c := range all {
				c.close()
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far (the clients' share included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// frameClient is a WebSocket client on a bare TCP connection: it writes masked text frames
// (with a zero mask, which leaves the payload as it is) and counts the `message` events it
// reads, parsing frames in place.
type frameClient struct {
	conn net.Conn
	wmu  sync.Mutex
	wbuf []byte

	msgs   atomic.Int64
	mu     sync.Mutex
	cond   *sync.Cond
	events []string // the events other than `message` seen last (a few)
	done   chan struct{}
	want   int64 // the benchmark's goroutine only
}

func dialFrames(b *testing.B, addr, query string) *frameClient {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET /ws?" + query + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("upgrade: %v %v", resp, err)
	}
	c := &frameClient{conn: conn, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.read(br)
	c.waitEvent(b, "session")
	return c
}

// send writes one masked text frame.
func (c *frameClient) send(b *testing.B, payload string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w := append(c.wbuf[:0], 0x81)
	switch n := len(payload); {
	case n < 126:
		w = append(w, 0x80|byte(n))
	default:
		w = append(w, 0x80|126)
		w = binary.BigEndian.AppendUint16(w, uint16(n))
	}
	w = append(w, 0, 0, 0, 0) // the mask key
	w = append(w, payload...)
	c.wbuf = w
	if _, err := c.conn.Write(w); err != nil {
		b.Fatal(err)
	}
}

var messageEvent = []byte(`"event":"message"`)

func (c *frameClient) read(br *bufio.Reader) {
	defer close(c.done)
	defer func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	var hdr [8]byte
	var head [64]byte
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return
		}
		op := hdr[0] & 0x0f
		n := int(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				return
			}
			n = int(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				return
			}
			n = int(binary.BigEndian.Uint64(hdr[:8]))
		}
		k := min(n, len(head))
		if _, err := io.ReadFull(br, head[:k]); err != nil {
			return
		}
		if _, err := br.Discard(n - k); err != nil {
			return
		}
		if op == 8 {
			c.mu.Lock()
			c.events = append(c.events, "close "+string(head[:k]))
			c.mu.Unlock()
			return
		}
		if op == 9 { // ping: answer, or the server drops the connection
			c.wmu.Lock()
			pong := append([]byte{0x8a, 0x80 | byte(k), 0, 0, 0, 0}, head[:k]...)
			_, _ = c.conn.Write(pong)
			c.wmu.Unlock()
			continue
		}
		if op != 1 {
			continue
		}
		if bytes.Contains(head[:k], messageEvent) {
			c.msgs.Add(1)
		} else if i := bytes.Index(head[:k], []byte(`"event":"`)); i >= 0 {
			ev := head[i+9 : k]
			if j := bytes.IndexByte(ev, '"'); j >= 0 {
				ev = ev[:j]
			}
			c.mu.Lock()
			if len(c.events) >= 16 {
				c.events = c.events[1:]
			}
			c.events = append(c.events, string(ev))
			c.mu.Unlock()
		} else {
			continue
		}
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// waitEvent waits for an event other than `message` (within 10 s).
func (c *frameClient) waitEvent(b *testing.B, event string) {
	b.Helper()
	c.waitFor(b, event, func() bool {
		for i, e := range c.events {
			if e == event {
				c.events = c.events[i+1:]
				return true
			}
		}
		return false
	})
}

// waitMessages waits until n `message` events arrived (within 10 s).
func (c *frameClient) waitMessages(b *testing.B, n int64) {
	if c.msgs.Load() >= n {
		return
	}
	c.waitFor(b, fmt.Sprintf("%d messages", n), func() bool { return c.msgs.Load() >= n })
}

func (c *frameClient) waitFor(b *testing.B, what string, ok func() bool) {
	b.Helper()
	deadline := time.AfterFunc(10*time.Second, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !ok() {
		select {
		case <-c.done:
			b.Fatalf("connection ended waiting for %s (events %q)", what, c.events)
		default:
		}
		if time.Since(start) > 10*time.Second {
			b.Fatalf("no %s within 10s (events %v)", what, c.events)
		}
		c.cond.Wait()
	}
}

func (c *frameClient) close() {
	_ = c.conn.Close()
	<-c.done
}

// BenchmarkIdleMemory measures what an idle connection costs the reference server: N clients
// (raw TCP, no goroutine of their own once joined) connect, join a room of 10 and go quiet;
// then the Go heap and the goroutine stacks in use are compared with before, after a GC.
// With $HUDDLE_IDLE_HEAP_PROFILE set, the heap profile taken then shows what they hold.
//
//	HUDDLE_IDLE_HEAP_PROFILE=/tmp/idle.heap go test -run '^$' -bench IdleMemory -benchtime 1x ./examples/server/
func BenchmarkIdleMemory(b *testing.B) {
	const conns = 2000
	runtime.MemProfileRate = 512
	ts := startServer(b, "-dev-auth", "-max-conns-per-ip", "-1", "-upgrade-rate", "-1", "-data", "memory")
	addr := strings.TrimPrefix(ts.URL, "http://")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	idle := make([]net.Conn, 0, conns)
	for i := range conns {
		idle = append(idle, dialIdle(b, addr, fmt.Sprintf("user=i%d&name=I", i), fmt.Sprintf("r%d", i/10)))
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := func(a, b uint64) float64 { return (float64(a) - float64(b)) / 1024 / conns }
	b.ReportMetric(perConn(after.HeapInuse, before.HeapInuse), "heap-KiB/conn")
	b.ReportMetric(perConn(after.HeapAlloc, before.HeapAlloc), "live-KiB/conn")
	b.ReportMetric(perConn(after.StackInuse, before.StackInuse), "stack-KiB/conn")
	b.ReportMetric(float64(runtime.NumGoroutine())/conns, "goroutines/conn")
	if path := os.Getenv("HUDDLE_IDLE_HEAP_PROFILE"); path != "" { // what the connections hold
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		_ = f.Close()
	}
	for _, c := range idle {
		_ = c.Close()
	}
}

// dialIdle connects a raw WebSocket client, joins room and returns the connection once
// room_joined arrived, with nothing reading it any more.
func dialIdle(b *testing.B, addr, query, room string) net.Conn {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET /ws?" + query + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("upgrade: %v %v", resp, err)
	}
	join := `{"event":"join_room","data":{"roomId":"` + room + `"}}`
	if _, err := conn.Write(append([]byte{0x81, 0x80 | byte(len(join)), 0, 0, 0, 0}, join...)); err != nil {
		b.Fatal(err)
	}
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			b.Fatal(err)
		}
		n := int(hdr[1] & 0x7f)
		switch n {
		case 126:
			_, _ = io.ReadFull(br, hdr[:2])
			n = int(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			_, _ = io.ReadFull(br, hdr[:8])
			n = int(binary.BigEndian.Uint64(hdr[:8]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			b.Fatal(err)
		}
		if bytes.Contains(p, []byte(`"event":"room_joined"`)) {
			return conn
		}
	}
}
