package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// recorder keeps the events a peer saw, for waiting on one with a deadline.
type recorder struct {
	mu     sync.Mutex
	events []ws.Event
	more   chan struct{}
}

func newRecorder() *recorder { return &recorder{more: make(chan struct{})} }

func (r *recorder) add(e ws.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	close(r.more)
	r.more = make(chan struct{})
}

// names returns the names of the events seen so far.
func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = e.Event
	}
	return out
}

// waitFor returns the first event named name that matches ok, waiting up to d.
func (r *recorder) waitFor(t *testing.T, name string, ok func(json.RawMessage) bool, d time.Duration) int {
	t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		for i, e := range r.events {
			if e.Event == name && (ok == nil || ok(e.Data)) {
				r.mu.Unlock()
				return i
			}
		}
		more := r.more
		r.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no %s within %v; saw %v", name, d, r.names())
		}
	}
}

type meshPeer struct {
	*peer.Peer
	rec *recorder
}

func dialPeer(t testing.TB, ts *testServer, user string) meshPeer {
	t.Helper()
	rec := newRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	p, err := peer.Dial(ctx, fmt.Sprintf("%s?user=%s&name=%s", ts.WS, user, user), &peer.Options{
		LoopbackOnly: true,
		JoinRoom:     true,
		OnEvent:      rec.add,
		OnData: func(m peer.Message) {
			rec.add(ws.Event{Event: "data", Data: json.RawMessage(fmt.Sprintf("%q", m.From+": "+string(m.Data)))})
		},
	})
	if err != nil {
		t.Fatalf("peer %s: %v", user, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return meshPeer{Peer: p, rec: rec}
}

// mesh starts a meeting with the first peer as host and has the others join concurrently; it
// returns the time from the joins to every pair connected with its data channel open.
func mesh(t testing.TB, ts *testServer, room string, users ...string) ([]meshPeer, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peers := make([]meshPeer, len(users))
	for i, u := range users {
		peers[i] = dialPeer(t, ts, u)
	}
	if err := peers[0].Start(ctx, room); err != nil {
		t.Fatalf("start: %v", err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(peers))
	for _, p := range peers[1:] {
		wg.Add(1)
		go func(p meshPeer) {
			defer wg.Done()
			if _, err := p.Join(ctx, room); err != nil {
				errs <- fmt.Errorf("%s join: %w", p.User().ID, err)
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range peers {
		if err := p.WaitAllConnected(ctx, users...); err != nil {
			t.Fatalf("%s: not all connected: %v", p.User().ID, err)
		}
	}
	return peers, time.Since(start)
}

// TestMeshThroughReferenceServer: real Pion peers over loopback, signaling through
// examples/server over WebSocket.
func TestMeshThroughReferenceServer(t *testing.T) {
	if testing.Short() {
		t.Skip("WebRTC end-to-end")
	}
	ts := startServer(t, "-dev-auth")

	t.Run("two peers: data both ways and RTP both ways", func(t *testing.T) {
		is := is.New(t)
		peers, took := mesh(t, ts, "pair", "p-alice", "p-bob")
		t.Logf("2 peers: join to all connected in %v", took)
		is.NoErr(peers[0].SendText("p-bob", "ping from alice")) // over the data channel
		is.NoErr(peers[1].SendText("p-alice", "pong from bob"))
		isText := func(want string) func(json.RawMessage) bool {
			return func(d json.RawMessage) bool {
				var s string
				return json.Unmarshal(d, &s) == nil && s == want
			}
		}
		peers[1].rec.waitFor(t, "data", isText("p-alice: ping from alice"), wait) // bob got alice's
		peers[0].rec.waitFor(t, "data", isText("p-bob: pong from bob"), wait)     // and alice bob's
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		is.NoErr(peers[1].WaitRTP(ctx, "p-alice", 5)) // bob receives alice's audio
		is.NoErr(peers[0].WaitRTP(ctx, "p-bob", 5))   // and alice bob's
	})

	t.Run("four peers: six pairs connected", func(t *testing.T) {
		is := is.New(t)
		peers, took := mesh(t, ts, "four", "q1", "q2", "q3", "q4")
		t.Logf("4 peers: join to all connected in %v", took)
		for _, p := range peers {
			is.Equal(len(p.Remotes()) >= 3, true) // each peer has the three others
		}
	})

	t.Run("a reload within the grace shows no leave", func(t *testing.T) {
		is := is.New(t)
		peers, _ := mesh(t, ts, "reload", "r1", "r2", "r3")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		is.NoErr(peers[2].SimulateReload(ctx)) // drops its socket and its peer connections
		for _, p := range peers {
			is.NoErr(p.WaitAllConnected(ctx, "r1", "r2", "r3")) // every pair connected again
		}
		for _, p := range peers {
			for _, name := range p.rec.names() {
				is.True(name != "meeting_user_left") // nobody saw a leave
			}
		}
	})

	t.Run("the host stops: meeting_ended, then the inactive invitation", func(t *testing.T) {
		is := is.New(t)
		peers, _ := mesh(t, ts, "stop", "s1", "s2", "s3")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		is.NoErr(peers[0].Stop(ctx))
		inactive := func(d json.RawMessage) bool {
			var m struct{ Status string }
			return json.Unmarshal(d, &m) == nil && m.Status == "inactive"
		}
		for _, p := range peers[1:] {
			ended := p.rec.waitFor(t, "meeting_ended", nil, wait)
			revoked := p.rec.waitFor(t, "meeting_invitation", inactive, wait)
			is.True(ended < revoked) // meeting_ended comes first
		}
		peers[0].rec.waitFor(t, "meeting_invitation", inactive, wait) // the host's is revoked too
	})
}

// BenchmarkMesh measures, for meshes of 2, 4 and 6 headless Pion peers through the reference
// server on loopback, the time from the joins to every pair connected with its data channel
// open (ms/mesh; ns/op also counts dialing the peers). docs/performance.md's figures come from
//
//	go test -run '^$' -bench BenchmarkMesh -benchtime 5x ./examples/server/
func BenchmarkMesh(b *testing.B) {
	ts := startServer(b, "-dev-auth")
	for _, n := range []int{2, 4, 6} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			var total time.Duration
			round := 0
			for b.Loop() {
				round++
				users := make([]string, n)
				for i := range users {
					users[i] = fmt.Sprintf("b%d-%d-%d", n, round, i)
				}
				peers, took := mesh(b, ts, fmt.Sprintf("bench-%d-%d", n, round), users...)
				total += took
				for _, p := range peers {
					_ = p.Close()
				}
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(round), "ms/mesh")
		})
	}
}
