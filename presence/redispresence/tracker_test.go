package redispresence_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/redistest"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

const (
	wait = 3 * time.Second // real time for events that must come
)

var (
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
)

// rooms stands in for chat's membership: room id → members.
type rooms map[string][]signaling.User

func (r rooms) Rooms(_ context.Context, userID string) ([]string, error) {
	var out []string
	for id, ms := range r {
		for _, m := range ms {
			if m.ID == userID {
				out = append(out, id)
				break
			}
		}
	}
	return out, nil
}

func (r rooms) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	return r[roomID], nil
}

// roomSubscriber subscribes each starting session to the topics of its user's rooms, as chat
// does: presence publishes to those topics. Register it before the Tracker.
func roomSubscriber(hub signaling.Hub, rs presence.Rooms) signaling.SessionHook {
	return func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev != signaling.SessionConnected && ev != signaling.SessionResumed {
			return
		}
		ids, err := rs.Rooms(ctx, s.User().ID)
		if err != nil {
			panic(err)
		}
		for _, r := range ids {
			if err := hub.Subscribe(ctx, s.ID(), chat.RoomTopic(r)); err != nil {
				panic(err)
			}
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startNode runs a Node with a Tracker on store, both stopped when the test ends.
func startNode(t *testing.T, id string, clk clock.Clock, broker signaling.Broker, store presence.Store, rs presence.Rooms) (*signaling.Node, *presence.Tracker) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil)).With("node", id)
	node := signaling.NewNode(&signaling.NodeOptions{ID: id, Broker: broker, Clock: clk, Logger: log})
	node.OnSessionAt(signaling.StageSubscribe, roomSubscriber(node, rs))
	tr, err := presence.New(node, &presence.Options{Store: store, Rooms: rs, RoomTopic: chat.RoomTopic, Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		_ = tr.Close()
	})
	return node, tr
}

type wirePresence struct {
	User     signaling.User `json:"user"`
	Status   string         `json:"status"`
	LastSeen string         `json:"lastSeen"`
}

func expectPresence(t *testing.T, c *signalingtest.Client) wirePresence {
	t.Helper()
	var p wirePresence
	if err := json.Unmarshal(c.Expect("presence", wait).Data, &p); err != nil {
		t.Fatalf("bind presence: %v", err)
	}
	return p
}

// TestDeadNodeAcrossTrackers runs two nodes, each with its own Tracker and Store handle on one
// Redis. Node A dies without cleaning up; node B's Tracker expires A's sessions through Redis and
// tells a co-member, within 30 s of manual time.
func TestDeadNodeAcrossTrackers(t *testing.T) {
	is := is.New(t)
	prefix := redistest.Prefix(t)
	addr := redistest.Addr(t)
	storeA := newStoreOn(t, redistest.Client(t, addr, prefix), prefix)
	storeB := newStoreOn(t, redistest.Client(t, addr, prefix), prefix)
	clk := clock.NewManual(t0)
	broker := signaling.NewMemoryBroker()
	rs := rooms{"r1": {alice, bob}}
	nodeA, trackerA := startNode(t, "node-a", clk, broker, storeA, rs)
	nodeB, _ := startNode(t, "node-b", clk, broker, storeB, rs)

	b := signalingtest.Connect(t, nodeB, bob, nil)
	b.Expect("session", wait)
	b.Expect("presence_snapshot", wait)
	a := signalingtest.Connect(t, nodeA, alice, nil)
	a.Expect("session", wait)
	a.Expect("presence_snapshot", wait) // sent after the Tracker stored alice's session
	p := expectPresence(t, b)
	is.Equal(p.User, alice)      // bob on node B learns about alice on node A
	is.Equal(p.Status, "online") // through the shared Redis store and broker

	is.NoErr(trackerA.Close()) // node A stops heartbeating, as if it died; alice's session stays
	clk.Advance(15 * time.Second)
	b.ExpectQuiet("presence") // within node A's TTL nothing shows

	clk.Advance(15 * time.Second)
	p = expectPresence(t, b)
	is.Equal(p.User, alice)       // named from the rooms
	is.Equal(p.Status, "offline") // node B expired node A's sessions
	lastSeen, err := time.Parse(time.RFC3339, p.LastSeen)
	is.NoErr(err)                                      // lastSeen is RFC 3339
	is.True(!lastSeen.After(t0.Add(25 * time.Second))) // within NodeTTL + HeartbeatInterval
	b.ExpectQuiet("presence")                          // exactly once

	e, err := storeB.Get(context.Background(), []string{"alice"})
	is.NoErr(err)
	is.Equal(e[0].Status, presence.StatusOffline) // and the store agrees
}

// A Redis that loses its data (FLUSHALL here; a restart without persistence is the same) leaves
// connected users offline until their nodes notice: each node's next heartbeat finds its
// sessions gone and adds them again, so they show online within one heartbeat.
func TestFlushedRedisRecoversLiveSessions(t *testing.T) {
	is := is.New(t)
	srv := redistest.Start(t) // a private server: FLUSHALL touches no other test
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t, srv.Addr, prefix)
	storeA := newStoreOn(t, redistest.Client(t, srv.Addr, prefix), prefix)
	storeB := newStoreOn(t, redistest.Client(t, srv.Addr, prefix), prefix)
	clk := clock.NewManual(t0)
	broker := signaling.NewMemoryBroker()
	rs := rooms{"r1": {alice, bob}}
	nodeA, trackerA := startNode(t, "node-a", clk, broker, storeA, rs)
	nodeB, _ := startNode(t, "node-b", clk, broker, storeB, rs)
	b := signalingtest.Connect(t, nodeB, bob, nil)
	b.Expect("presence_snapshot", wait)
	a := signalingtest.Connect(t, nodeA, alice, nil)
	a.Expect("presence_snapshot", wait)
	is.Equal(expectPresence(t, b).Status, "online") // alice online

	ctx := context.Background()
	is.NoErr(rdb.FlushAll(ctx).Err())
	online, err := trackerA.Online(ctx, []string{"alice", "bob"})
	is.NoErr(err)
	is.Equal(len(online), 0) // the data is gone: both look offline

	clk.Advance(5 * time.Second) // one heartbeat of each node
	online, err = trackerA.Online(ctx, []string{"alice", "bob"})
	is.NoErr(err)
	is.Equal(online, []string{"alice", "bob"}) // both online again, still connected
	p := expectPresence(t, b)
	is.Equal(p.User.ID, "alice") // and bob is told alice is online
	is.Equal(p.Status, "online")

	a.Close(signaling.StatusNormalClosure) // the re-added session ends as any other
	p = expectPresence(t, b)
	is.Equal(p.Status, "offline")
}
