// Package redistest gives tests a real Redis: a redis-server of their own on a free loopback
// port (or the one named by HUDDLE_REDIS_ADDR), a client, and a unique key prefix. Without a
// redis-server binary the test is skipped with a message saying how to get one, except when
// HUDDLE_REQUIRE_REDIS=1 (as in CI), where it fails.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process owned by a test. It can be stopped and started again on the
// same port to test outages.
type Server struct {
	Addr string

	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	dir  string
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("HUDDLE_REQUIRE_REDIS") == "1" {
		t.Fatalf("redistest: %s, and HUDDLE_REQUIRE_REDIS=1 makes that a failure", why)
	}
	t.Skipf("redistest: %s; install it (apt-get install redis-server) or set HUDDLE_REDIS_ADDR=host:port to run this test", why)
}

// Start starts a redis-server of the test's own on a free loopback port, stopped at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "no redis-server binary on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &Server{Addr: addr, t: t, dir: t.TempDir()}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again after Stop, on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(cmd, s.done)
	if err := waitPing(s.Addr, 10*time.Second); err != nil {
		s.t.Fatalf("redistest: redis-server on %s did not answer: %v", s.Addr, err)
	}
}

// Stop kills the server (no cleanup on its side, as in a crash).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func waitPing(addr string, within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // polling a process that is starting up
	}
}

var shared struct {
	once sync.Once
	addr string
	err  error
}

// Addr returns the address of a Redis for the test: HUDDLE_REDIS_ADDR when set, else one
// redis-server shared by the test binary, started on first use and stopped by Main.
func Addr(t testing.TB) string {
	t.Helper()
	if a := os.Getenv("HUDDLE_REDIS_ADDR"); a != "" {
		if err := waitPing(a, 3*time.Second); err != nil {
			missing(t, fmt.Sprintf("HUDDLE_REDIS_ADDR=%s does not answer PING (%v)", a, err))
		}
		return a
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing(t, "no redis-server binary on PATH")
	}
	shared.once.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			shared.err = err
			return
		}
		shared.addr = l.Addr().String()
		_ = l.Close()
		_, port, _ := net.SplitHostPort(shared.addr)
		cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", os.TempDir(), "--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			shared.err = err
			return
		}
		sharedCmd = cmd
		shared.err = waitPing(shared.addr, 10*time.Second)
	})
	if shared.err != nil {
		t.Fatalf("redistest: shared redis-server: %v", shared.err)
	}
	return shared.addr
}

var sharedCmd *exec.Cmd

// Main wraps a package's TestMain so that the shared redis-server (if one was started) is
// stopped when the tests end:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
func Main(m interface{ Run() int }) int {
	code := m.Run()
	if sharedCmd != nil {
		_ = sharedCmd.Process.Kill()
		_ = sharedCmd.Wait()
	}
	return code
}

var prefixes atomic.Int64

// Prefix returns a key prefix unique to this test, ending in ':'.
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return fmt.Sprintf("huddletest:%d:%d:%s:", os.Getpid(), prefixes.Add(1), name)
}

// Client returns a client for addr, closed at cleanup, whose keys under prefix are deleted then.
func Client(t testing.TB, addr, prefix string) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 500).Result()
			if err != nil {
				break
			}
			if len(keys) > 0 {
				c.Del(ctx, keys...)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		_ = c.Close()
	})
	return c
}
