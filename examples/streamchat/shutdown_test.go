package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"
)

// TestShutdown: when its context ends, the command closes every socket with 1012, returns, and
// leaves no goroutine behind (stores, presence heartbeat, timers, database).
func TestShutdown(t *testing.T) {
	is := is.New(t)
	http.DefaultClient.CloseIdleConnections()
	base := runtime.NumGoroutine()
	client := &http.Client{Transport: &http.Transport{}}
	addr, _, stop := runCommand(t, []string{"-addr", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "s.db"), "-rooms", "General", "-log-level", "error"}, nil)
	var socks []*websocket.Conn
	for _, name := range []string{"alice", "bob"} {
		res, err := client.Post(addr+"/api/auth/register", "application/json", strings.NewReader(`{"username":"`+name+`","password":"long-enough"}`))
		is.NoErr(err)
		var p tokenPair
		is.NoErr(json.NewDecoder(res.Body).Decode(&p))
		res.Body.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(addr, "http")+"/ws?token="+p.AccessToken, &websocket.DialOptions{HTTPClient: client})
		cancel()
		is.NoErr(err)
		socks = append(socks, c)
	}
	errs := make(chan error, len(socks))
	for _, c := range socks {
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	is.NoErr(stop())
	for range socks {
		select {
		case err := <-errs:
			is.Equal(websocket.CloseStatus(err), websocket.StatusServiceRestart)
		case <-time.After(wait):
			t.Fatal("a socket was not closed by the shutdown")
		}
	}
	client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // polling a counter, bounded by the deadline
	}
}
