package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat/wschat"
	"github.com/huddle-go/huddle/internal/pgtest"
	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// buildServer builds the reference server binary for the test.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "huddle-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build the server: %v", err)
	}
	return bin
}

// proc is a server process of the test's own.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	addr   string
}

// startProc starts bin with args and waits until it listens.
func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	out := newLineBuffer()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the server: %v", err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.kill)
	p.addr = out.waitFor(t, listenLine, 20*time.Second)
	return p
}

// kill ends the process with SIGKILL: it cleans nothing up.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// collector drains a ws.Client's Events and keeps them for the test to look at.
type collector struct {
	t    *testing.T
	c    *ws.Client
	mu   sync.Mutex
	evs  []ws.Event
	more chan struct{}
}

func collect(t *testing.T, wsURL string) *collector {
	return collectWith(t, wsURL, 50*time.Millisecond)
}

// collectWith connects a ws.Client with Reconnect and a wschat.Resync hook, whose reconnects wait at least
// about minBackoff.
func collectWith(t *testing.T, wsURL string, minBackoff time.Duration) *collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := ws.Connect(ctx, wsURL, &ws.ClientOptions{
		Reconnect:  true,
		Hook:       wschat.NewResync(nil),
		MinBackoff: minBackoff,
		MaxBackoff: 10 * minBackoff,
	})
	if err != nil {
		t.Fatalf("connect %s: %v", wsURL, err)
	}
	col := &collector{t: t, c: c, more: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range c.Events() {
			col.mu.Lock()
			col.evs = append(col.evs, ev)
			col.mu.Unlock()
			select {
			case col.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { _ = c.Close(); <-done })
	return col
}

func (col *collector) send(event string, data any) {
	col.t.Helper()
	if err := col.trySend(event, data); err != nil {
		col.t.Fatal(err)
	}
}

func (col *collector) trySend(event string, data any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := col.c.Send(ctx, event, data); err != nil {
		return fmt.Errorf("send %s: %w", event, err)
	}
	return nil
}

// waitFor waits until ok holds for the events received so far, and returns them.
func (col *collector) waitFor(what string, d time.Duration, ok func([]ws.Event) bool) []ws.Event {
	col.t.Helper()
	evs, err := col.tryWait(what, d, ok)
	if err != nil {
		col.t.Fatal(err)
	}
	return evs
}

// snapshot returns the events received so far.
func (col *collector) snapshot() []ws.Event {
	col.mu.Lock()
	defer col.mu.Unlock()
	return append([]ws.Event(nil), col.evs...)
}

func (col *collector) tryWait(what string, d time.Duration, ok func([]ws.Event) bool) ([]ws.Event, error) {
	deadline := time.After(d)
	for {
		// One goroutine waits on a collector at a time, so no wake-up is lost.
		evs := col.snapshot()
		if ok(evs) {
			return evs, nil
		}
		select {
		case <-col.more:
		case <-deadline:
			return evs, fmt.Errorf("no %s within %v; got %d events", what, d, len(evs))
		}
	}
}

// count returns how many events arrived so far.
func (col *collector) count() int {
	col.mu.Lock()
	defer col.mu.Unlock()
	return len(col.evs)
}

func has(event string, match func(json.RawMessage) bool) func([]ws.Event) bool {
	return func(evs []ws.Event) bool {
		for _, ev := range evs {
			if ev.Event == event && (match == nil || match(ev.Data)) {
				return true
			}
		}
		return false
	}
}

// reports logs the re-sync reports among evs.
func reports(t *testing.T, who string, evs []ws.Event) int {
	t.Helper()
	total := 0
	for _, ev := range evs {
		if ev.Event == wschat.ResyncedEvent {
			var r wschat.ResyncReport
			_ = json.Unmarshal(ev.Data, &r)
			t.Logf("%s re-synced %+v", who, r)
			total += r.Messages
		}
	}
	return total
}

func after(n int, f func([]ws.Event) bool) func([]ws.Event) bool {
	return func(evs []ws.Event) bool { return len(evs) > n && f(evs[n:]) }
}

type wireMsg struct {
	ID          string `json:"id"`
	Content     string `json:"content"`
	ClientMsgID string `json:"clientMsgId"`
}

// tally counts the `message` events of the ids wanted (clientMsgId "<prefix><i>") and returns
// how often each arrived and the order of first arrival.
func tally(evs []ws.Event, prefix string) (map[string]int, []string) {
	counts := map[string]int{}
	var order []string
	for _, ev := range evs {
		if ev.Event != "message" {
			continue
		}
		var m wireMsg
		if json.Unmarshal(ev.Data, &m) != nil || !strings.HasPrefix(m.ClientMsgID, prefix) {
			continue
		}
		if counts[m.ClientMsgID] == 0 {
			order = append(order, m.ClientMsgID)
		}
		counts[m.ClientMsgID]++
	}
	return counts, order
}

func allOnce(t *testing.T, who string, evs []ws.Event, prefix string, n int) {
	t.Helper()
	counts, order := tally(evs, prefix)
	for i := range n {
		id := fmt.Sprint(prefix, i)
		if counts[id] != 1 {
			t.Errorf("%s got %s %d times, want once", who, id, counts[id])
		}
		if i < len(order) && order[i] != id {
			t.Errorf("%s: message %d is %s, want %s (in order)", who, i, order[i], id)
		}
	}
}

func acked(prefix string, i int) func([]ws.Event) bool {
	id := fmt.Sprint(prefix, i)
	return has("message", func(d json.RawMessage) bool {
		var m wireMsg
		return json.Unmarshal(d, &m) == nil && m.ClientMsgID == id
	})
}

func say(col *collector, room, prefix string, i int) {
	col.send("message", map[string]string{"roomId": room, "content": fmt.Sprint("msg ", i), "clientMsgId": fmt.Sprint(prefix, i)})
}

func barrier(col *collector, ref string) {
	col.t.Helper()
	n := col.count()
	col.send("ping", struct{}{})
	col.waitFor("pong "+ref, wait, after(n-1, has("pong", nil)))
}

// TestRestartOnSQLite is the acceptance test for one node: the reference server binary
// on a temporary SQLite file holds a chat and a meeting between two ws.Clients, is killed with
// SIGKILL while alice sends, and starts again on the same file. History and membership are
// intact, the meeting is still active, and both clients have each of the N messages exactly
// once, in order, after their re-sync.
func TestRestartOnSQLite(t *testing.T) {
	is := is.New(t)
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := buildServer(t)
	addr := freeAddr(t)
	db := filepath.Join(t.TempDir(), "huddle.db")
	args := []string{"-dev-auth", "-addr", addr, "-data", db, "-log-level", "warn",
		"-participant-grace", "60s", "-host-grace", "60s"}
	first := startProc(t, bin, args...)
	base := "ws://" + first.addr + "/ws"

	// Alice and bob come back slowly after the kill, so that carol's messages sent at once
	// after the restart reach them by their re-sync.
	alice := collectWith(t, base+"?user=alice&name=Alice", 500*time.Millisecond)
	bob := collectWith(t, base+"?user=bob&name=Bob", 500*time.Millisecond)
	carol := collect(t, base+"?user=carol&name=Carol")
	for _, c := range []*collector{alice, bob, carol} {
		c.send("join_room", map[string]string{"roomId": "r1"})
		c.waitFor("room_joined", wait, has("room_joined", nil))
	}
	alice.send("start_meeting", map[string]string{"roomId": "r1"})
	alice.waitFor("meeting_started", wait, has("meeting_started", nil))
	bob.waitFor("meeting_invitation", wait, has("meeting_invitation", nil))
	bob.send("join_meeting", map[string]string{"roomId": "r1"})
	bob.waitFor("meeting_joined", wait, has("meeting_joined", nil))

	const n, killAt = 40, 20
	var second *proc
	for i := 0; i < n; i++ {
		say(alice, "r1", "m", i)
		if i == killAt {
			// Killed right after a send: m20 may be stored or not, acknowledged or not.
			first.kill()
			aliceAt, bobAt := alice.count(), bob.count()
			second = startProc(t, bin, args...)
			for k := range 5 {
				say(carol, "r1", "c", k)
				carol.waitFor(fmt.Sprint("the ack of c", k), 20*time.Second, acked("c", k))
			}
			alice.waitFor("alice's re-sync", 20*time.Second, after(aliceAt, has(wschat.ResyncedEvent, nil)))
			bob.waitFor("bob's re-sync", 20*time.Second, after(bobAt, has(wschat.ResyncedEvent, nil)))
			say(alice, "r1", "m", i) // the retry of an unacknowledged message, same clientMsgId
		}
		alice.waitFor(fmt.Sprint("the ack of m", i), 20*time.Second, acked("m", i))
	}
	bobEvs := bob.waitFor("all messages at bob", 20*time.Second, acked("m", n-1))
	barrier(alice, "alice")
	barrier(bob, "bob")
	allOnce(t, "alice", alice.snapshot(), "m", n)
	allOnce(t, "bob", bob.snapshot(), "m", n)
	allOnce(t, "alice", alice.snapshot(), "c", 5)
	allOnce(t, "bob", bob.snapshot(), "c", 5)
	reports(t, "alice", alice.snapshot())
	reports(t, "bob", bobEvs)

	// History and membership are in the file.
	at := bob.count()
	bob.send("get_history", map[string]any{"roomId": "r1", "limit": 100})
	evs := bob.waitFor("history", wait, after(at, has("history", nil)))
	var h struct {
		Messages []wireMsg `json:"messages"`
	}
	for _, ev := range evs[at:] {
		if ev.Event == "history" {
			is.NoErr(json.Unmarshal(ev.Data, &h)) // history
		}
	}
	is.Equal(len(h.Messages), n+5) // every message stored once
	at = alice.count()
	alice.send("get_rooms", struct{}{})
	evs = alice.waitFor("rooms", wait, after(at, has("rooms", nil)))
	for _, ev := range evs[at:] {
		if ev.Event == "rooms" {
			is.True(strings.Contains(string(ev.Data), `"r1"`)) // alice is still a member of r1
		}
	}

	// The meeting is still active, and both rejoin it.
	at = alice.count()
	alice.send("get_room_info", map[string]string{"roomId": "r1"})
	evs = alice.waitFor("room info", wait, after(at, has("room_info_response", nil)))
	for _, ev := range evs[at:] {
		if ev.Event == "room_info_response" {
			is.True(strings.Contains(string(ev.Data), `"status":"active"`)) // the meeting survived the kill
		}
	}
	for _, c := range []*collector{alice, bob} {
		at := c.count()
		c.send("join_meeting", map[string]string{"roomId": "r1"})
		c.waitFor("meeting_joined after the restart", wait, after(at, has("meeting_joined", nil)))
	}
	_ = second
}

// TestKilledNodeOnPostgres: two nodes share Redis (broker, presence, meetings) and PostgreSQL
// (chat history and rooms). The node holding alice's session is killed with SIGKILL while bob,
// on the other node, sends; alice's client comes back through the load balancer on the other
// node and, after its re-sync, has every message exactly once.
func TestKilledNodeOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	srv := redistest.Start(t)
	pg := pgtest.URL(t)
	bin := buildServer(t)
	shared := []string{"-dev-auth", "-log-level", "warn", "-redis", "redis://" + srv.Addr + "/0", "-postgres", pg}
	a := startProc(t, bin, append([]string{"-addr", "127.0.0.1:0", "-node-id", "a"}, shared...)...)
	b := startServer(t, append([]string{"-node-id", "b"}, shared...)...)

	// The load balancer: everything to a, until a dies.
	var target atomic.Pointer[url.URL]
	target.Store(&url.URL{Scheme: "http", Host: a.addr})
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target.Load()) }})
	t.Cleanup(lb.Close)

	alice := collect(t, "ws"+strings.TrimPrefix(lb.URL, "http")+"/ws?user=alice&name=Alice")
	bob := collect(t, b.WS+"?user=bob&name=Bob")
	for _, c := range []*collector{alice, bob} {
		c.send("join_room", map[string]string{"roomId": "r1"})
		c.waitFor("room_joined", wait, has("room_joined", nil))
	}
	// Until bob's messages reach alice, a's subscription to the room may not be in place.
	for i := 0; ; i++ {
		say(bob, "r1", "warm", i)
		bob.waitFor("warm ack", wait, acked("warm", i))
		if has("message", func(d json.RawMessage) bool { return strings.Contains(string(d), `"warm`) })(alice.snapshot()) {
			break
		}
		if i == 50 {
			t.Fatal("bob's messages never reached alice on the other node")
		}
	}

	const n, killAt = 60, 20
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			err := bob.trySend("message", map[string]string{"roomId": "r1", "content": fmt.Sprint("msg ", i), "clientMsgId": fmt.Sprint("m", i)})
			if err == nil {
				_, err = bob.tryWait(fmt.Sprint("ack of m", i), 20*time.Second, acked("m", i))
			}
			if err != nil {
				sent <- err
				return
			}
			time.Sleep(5 * time.Millisecond) // pacing, so that messages flow across the kill
		}
		sent <- nil
	}()
	alice.waitFor("some messages at alice", 20*time.Second, acked("m", killAt))
	aliceAt := alice.count()
	a.kill()
	target.Store(&url.URL{Scheme: "http", Host: strings.TrimPrefix(b.URL, "http://")})
	alice.waitFor("alice's re-sync on b", 30*time.Second, after(aliceAt, has(wschat.ResyncedEvent, nil)))
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("bob did not finish sending")
	}
	alice.waitFor("every message at alice", 20*time.Second, acked("m", n-1))
	barrier(alice, "alice")
	allOnce(t, "alice", alice.snapshot(), "m", n)
	reports(t, "alice", alice.snapshot())
}
