package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/huddle-go/huddle/chat/sqlchat"
	"github.com/huddle-go/huddle/internal/pgtest"
	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
	"github.com/redis/go-redis/v9"
)

// TestDurableConfigRefusals: store flags that cannot work together, and stores that cannot be
// reached, stop the server at start with a message that says why.
func TestDurableConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"SQLite with Redis", []string{"-data", filepath.Join(dir, "x.db"), "-redis", "redis://127.0.0.1:1/0"}, "use -postgres for durable chat with -redis"},
		{"SQLite and PostgreSQL", []string{"-data", filepath.Join(dir, "x.db"), "-postgres", "postgres://127.0.0.1/x"}, "choose one"},
		{"empty data", []string{"-data", ""}, "-data is empty"},
		{"SQLite file that cannot be created", []string{"-data", filepath.Join(dir, "no", "such", "dir", "x.db")}, "-data " + filepath.Join(dir, "no", "such", "dir", "x.db")},
		{"bad PostgreSQL URL", []string{"-postgres", "postgres://%zz"}, "bad PostgreSQL URL"},
		{"unreachable PostgreSQL", []string{"-postgres", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"}, "PostgreSQL at 127.0.0.1:1 (database \"none\") does not answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			args := append([]string{"-dev-auth", "-addr", "127.0.0.1:0", "-log-level", "error"}, tc.args...)
			err := run(context.Background(), args, func(string) string { return "" }, io.Discard)
			is.True(err != nil) // the server refuses to start
			t.Logf("%v", err)
			is.True(strings.Contains(err.Error(), tc.want)) // with a message that says why
		})
	}
}

type health struct {
	Status string `json:"status"`
	Store  struct {
		Kind  string `json:"kind"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"store"`
}

func getHealth(t *testing.T, base string) (int, health) {
	t.Helper()
	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var h health
	if err := json.NewDecoder(res.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, h
}

func TestHealthzReportsTheStore(t *testing.T) {
	for _, tc := range []struct {
		args []string
		kind string
	}{
		{[]string{"-data", "memory"}, "memory"},
		{[]string{"-data", filepath.Join(t.TempDir(), "h.db")}, "sqlite"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			is := is.New(t)
			ts := startServer(t, append([]string{"-dev-auth"}, tc.args...)...)
			code, h := getHealth(t, ts.URL)
			is.Equal(code, http.StatusOK)   // healthy
			is.Equal(h.Status, "ok")        // ok
			is.Equal(h.Store.Kind, tc.kind) // names the store
			is.True(h.Store.OK)             // which answers
		})
	}
}

// TestOneServerPerFile: a second server on the SQLite file of a running one refuses to start,
// saying the file is in use; once the first stops, the file is free (a killed server's lock goes
// with it: TestRestartOnSQLite starts again on the file of one killed with SIGKILL).
func TestOneServerPerFile(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "one.db")
	first := startServer(t, "-dev-auth", "-data", path)
	err := run(context.Background(), []string{"-dev-auth", "-addr", "127.0.0.1:0", "-data", path}, func(string) string { return "" }, io.Discard)
	is.True(err != nil)                                                 // the second server does not start
	is.True(strings.Contains(err.Error(), "in use by another process")) // because the file is in use
	is.True(strings.Contains(err.Error(), path))                        // which file
	is.NoErr(first.stop(t))
	startServer(t, "-dev-auth", "-data", path) // the file is free again
}

// TestDatabaseGoneLater: when the SQLite database goes away under a running server, a message
// gets `unavailable` and no acknowledgement, /healthz says 503, and every message acknowledged
// before is in the file.
func TestDatabaseGoneLater(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "gone.db")
	cfg, err := parseConfig([]string{"-dev-auth", "-addr", "127.0.0.1:0", "-log-level", "error", "-data", path},
		func(string) string { return "" }, io.Discard)
	is.NoErr(err) // config
	ctx, cancel := context.WithCancel(context.Background())
	out := newLineBuffer()
	srv, err := newServer(ctx, cfg, out)
	is.NoErr(err) // the server starts on the file
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	addr := out.waitFor(t, listenLine, wait)
	ts := &testServer{URL: "http://" + addr, WS: "ws://" + addr + "/ws"}

	alice := ts.dial(t, signaling.User{ID: "alice", Username: "Alice"}, "")
	alice.Expect("session", wait)
	alice.Send("message", map[string]string{"roomId": "r1", "content": "acked", "clientMsgId": "c1"})
	alice.Expect("message", wait) // acknowledged: stored

	st := srv.huddle.Chat().Store().(*sqlchat.Store)
	is.NoErr(st.DB().Close()) // the database goes away
	alice.SendRef("message", map[string]string{"roomId": "r1", "content": "lost?", "clientMsgId": "c2"}, "m2")
	code, f := alice.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // the client is told
	is.Equal(f.Ref, "m2")                     // about its message
	alice.SendRef("ping", struct{}{}, "barrier")
	alice.Expect("pong", wait)
	is.Equal(len(alice.Frames("message")), 0) // which is not acknowledged
	status, h := getHealth(t, ts.URL)
	is.Equal(status, http.StatusServiceUnavailable) // /healthz reports it
	is.True(!h.Store.OK)                            // the store is down
	t.Logf("healthz: %+v", h)

	stop() // the server lets the file go
	again, err := sqlchat.OpenSQLite(context.Background(), path, nil)
	is.NoErr(err) // the file
	defer again.Close()
	hist, _, err := again.History(context.Background(), "r1", "", 10)
	is.NoErr(err)                      // holds
	is.Equal(len(hist), 1)             // the acknowledged message
	is.Equal(hist[0].Content, "acked") // it
}

// TestResumeSecretOutlivesARedisFlush: with -resume-secret (or HUDDLE_RESUME_SECRET) a node
// started after Redis lost its data accepts the resume tokens of the nodes before it; the secret
// that nodes store in Redis is only the fallback. With -postgres, room membership is not in
// Redis and survives the flush.
func TestResumeSecretOutlivesARedisFlush(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t)
	pg := pgtest.URL(t)
	a := startServer(t, "-dev-auth", "-redis", "redis://"+srv.Addr+"/0", "-postgres", pg, "-node-id", "a", "-resume-secret", "shared-secret")
	ac, s := dialUser(t, a, signaling.User{ID: "alice", Username: "Alice"})
	ac.Send("join_room", map[string]string{"roomId": "r1"})
	ac.Expect("room_joined", wait)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	is.NoErr(rdb.FlushAll(context.Background()).Err()) // Redis loses everything

	env := map[string]string{"HUDDLE_RESUME_SECRET": "shared-secret"}
	cfg, err := parseConfig([]string{"-dev-auth"}, func(k string) string { return env[k] }, io.Discard)
	is.NoErr(err)                               // the env twin
	is.Equal(cfg.resumeSecret, "shared-secret") // sets the secret

	b := startServer(t, "-dev-auth", "-redis", "redis://"+srv.Addr+"/0", "-postgres", pg, "-node-id", "b", "-resume-secret", "shared-secret")
	c := b.dial(t, signaling.User{ID: "alice", Username: "Alice"}, "&resume="+s.ResumeToken+"&lastSeq=0")
	var again sessionInfo
	is.NoErr(c.Expect("session", wait).Bind(&again)) // b accepts a's token: no 401
	t.Logf("resumed on b: %v", again.Resumed)
	c.SendRef("get_rooms", struct{}{}, "rooms")
	var rooms struct {
		Rooms []string `json:"rooms"`
	}
	is.NoErr(c.Expect("rooms", wait).Bind(&rooms)) // alice's rooms
	is.Equal(rooms.Rooms, []string{"r1"})          // survived the flush, in PostgreSQL
}
