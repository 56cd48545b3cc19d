package peer_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
	"github.com/pion/webrtc/v4"
)

// testTimeout bounds each test: two shared cores under -race set up a 6-peer mesh well within it.
const testTimeout = 60 * time.Second

func TestTwoPeersConnectExchangeDataAndAudio(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1")
	alice := dialPeer(ctx, t, srv, "alice", nil)
	bob := dialPeer(ctx, t, srv, "bob", nil)

	is.NoErr(alice.Start(ctx, "r1")) // alice hosts
	participants, err := bob.Join(ctx, "r1")
	is.NoErr(err)                             // bob joins
	is.Equal(len(participants), 2)            // meeting_joined lists both
	is.Equal(bob.Room(), "r1")                // bob is in the meeting
	is.NoErr(alice.WaitConnected(ctx, "bob")) // alice reaches bob
	is.NoErr(bob.WaitConnected(ctx, "alice")) // bob reaches alice

	st, ok := alice.Remote("bob")
	is.True(ok)                // alice has a connection to bob
	is.True(st.Offerer)        // the one who heard meeting_user_joined offers
	is.Equal(st.Generation, 1) // first connection
	st, _ = bob.Remote("alice")
	is.True(!st.Offerer) // the joiner answers

	// Data, both ways: text and binary.
	is.NoErr(alice.SendText("bob", "hello bob"))
	m, err := bob.receive(ctx)
	is.NoErr(err)
	is.Equal(m, peer.Message{From: "alice", Data: []byte("hello bob"), IsString: true}) // bob gets alice's text
	is.NoErr(bob.SendData("alice", []byte{1, 2, 3}))
	m, err = alice.receive(ctx)
	is.NoErr(err)
	is.Equal(m, peer.Message{From: "bob", Data: []byte{1, 2, 3}}) // alice gets bob's bytes

	// Audio, both ways.
	is.NoErr(alice.WaitRTP(ctx, "bob", 1)) // alice receives bob's audio
	is.NoErr(bob.WaitRTP(ctx, "alice", 1)) // bob receives alice's audio
	is.True(alice.RTPPackets("bob") > 0)   // the counter shows it
	is.True(bob.RTPPackets("alice") > 0)   // on both sides

	err = alice.SendData("carol", []byte("x"))
	is.True(errors.Is(err, peer.ErrNotConnected)) // nobody called carol here
}

func TestFourPeerMesh(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1")
	var peers []*testPeer
	for _, id := range []string{"p0", "p1", "p2", "p3"} {
		peers = append(peers, dialPeer(ctx, t, srv, id, nil))
	}
	d := startMesh(ctx, t, "r1", peers)
	t.Logf("4 peers, 6 pairs connected %v after the joins", d)

	// Every pair has exactly one offerer, and every connection carries data.
	for i, a := range peers {
		for j, b := range peers {
			if i == j {
				continue
			}
			sa, ok := a.Remote(b.id)
			is.True(ok) // every peer has a connection to every other
			sb, _ := b.Remote(a.id)
			is.True(sa.Offerer != sb.Offerer) // exactly one side offered
			is.NoErr(a.SendText(b.id, a.id+">"+b.id))
		}
	}
	for _, p := range peers {
		var from []string
		for range len(peers) - 1 {
			m, err := p.receive(ctx)
			is.NoErr(err) // a message from every other peer
			is.Equal(string(m.Data), m.From+">"+p.id)
			from = append(from, m.From)
		}
		slices.Sort(from)
		is.Equal(len(slices.Compact(from)), len(peers)-1) // one from each
	}
}

func TestLeaveClosesConnections(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1")
	a := dialPeer(ctx, t, srv, "a", nil)
	b := dialPeer(ctx, t, srv, "b", nil)
	c := dialPeer(ctx, t, srv, "c", nil)
	startMesh(ctx, t, "r1", []*testPeer{a, b, c})

	is.NoErr(c.Leave(ctx))        // c leaves
	is.Equal(c.Room(), "")        // c is in no meeting
	is.Equal(len(c.Remotes()), 0) // and has no connections
	for _, p := range []*testPeer{a, b} {
		_, _, err := p.waitEvent(ctx, 0, func(e ws.Event) bool { return e.Event == "meeting_user_left" && userOf(e) == "c" })
		is.NoErr(err) // the others hear that c left
		_, ok := p.Remote("c")
		is.True(!ok) // and dropped their connection to c
	}
	is.NoErr(a.WaitConnected(ctx, "b"))                    // a and b carry on
	is.True(errors.Is(c.Leave(ctx), peer.ErrNotInMeeting)) // leaving twice
}

// TestReloadRejoins: one of three peers reloads (drops its WebSocket and its peer
// connections) and comes back within the participant grace; every pair connects again and
// nobody sees it leave.
func TestReloadRejoins(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1")
	a := dialPeer(ctx, t, srv, "a", nil)
	b := dialPeer(ctx, t, srv, "b", nil)
	c := dialPeer(ctx, t, srv, "c", nil)
	peers := []*testPeer{a, b, c}
	startMesh(ctx, t, "r1", peers)
	session := c.Session().SessionID
	gens := map[string]int{} // generations before the reload, per "from>to"
	for _, p := range peers {
		for _, q := range peers {
			if st, ok := p.Remote(q.id); ok {
				gens[p.id+">"+q.id] = st.Generation
			}
		}
	}

	t0 := time.Now()
	is.NoErr(c.SimulateReload(ctx))          // c reloads and rejoins
	is.Equal(c.Session().SessionID, session) // the WebSocket session was resumed
	is.True(c.Session().Resumed)             // as such
	for _, p := range peers {
		is.NoErr(p.WaitAllConnected(ctx, ids(peers)...)) // every pair is connected again
	}
	t.Logf("reconnected %v after the reload", time.Since(t0))
	for _, p := range []*testPeer{a, b} {
		st, _ := p.Remote("c")
		is.True(st.Generation > gens[p.id+">c"]) // the connection to c was replaced
		st, _ = c.Remote(p.id)
		is.True(st.Generation > gens["c>"+p.id]) // c made new connections too
		_, _, err := p.waitEvent(ctx, 0, func(e ws.Event) bool { return e.Event == "meeting_user_joined" && userOf(e) == "c" && rejoinOf(e) })
		is.NoErr(err) // the others were told c rejoined
	}
	// Fresh data and audio on the new connections.
	for _, p := range []*testPeer{a, b} {
		is.NoErr(p.SendText("c", "welcome back"))
		m, err := c.receive(ctx)
		is.NoErr(err)
		is.Equal(string(m.Data), "welcome back")
		is.NoErr(p.WaitRTP(ctx, "c", 1))  // audio from c
		is.NoErr(c.WaitRTP(ctx, p.id, 1)) // audio to c
	}
	for _, p := range peers {
		is.True(!slices.Contains(p.eventNames(), "meeting_user_left")) // nobody saw c leave
	}
}

// TestResumeFailedRejoins: the server cannot resume (resume is off), so a dropped WebSocket
// comes back as a fresh session; the peer joins again by itself and the others replace their
// connections to it, all within the participant grace. With a reload the peer has no
// connections left; with a mere network flicker its old ones are replaced when the new offers
// (with a new DTLS identity) arrive.
func TestResumeFailedRejoins(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(context.Context, *testPeer) error
	}{
		{"reload", func(ctx context.Context, p *testPeer) error { return p.SimulateReload(ctx) }},
		{"flicker", func(ctx context.Context, p *testPeer) error {
			n := len(p.eventNames())
			p.DropWebSocket()
			_, _, err := p.waitEvent(ctx, n, named("meeting_joined")) // the automatic rejoin
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			checkNoLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			srv := newTestServer(t, &serverOptions{node: signaling.NodeOptions{ResumeWindow: -1}}, "r1")
			a := dialPeer(ctx, t, srv, "a", nil)
			b := dialPeer(ctx, t, srv, "b", nil)
			peers := []*testPeer{a, b}
			startMesh(ctx, t, "r1", peers)
			old := b.Session().SessionID
			st, _ := a.Remote("b")
			gen := st.Generation

			is.NoErr(tc.drop(ctx, b))             // b's session is lost; it joins again
			is.True(b.Session().SessionID != old) // b has a new session
			is.True(!b.Session().Resumed)         // which is not a resume
			is.NoErr(a.until(ctx, func() bool {
				st, _ := a.Remote("b")
				return st.Generation > gen && st.Connected()
			})) // a replaced its connection to b
			for _, p := range peers {
				is.NoErr(p.WaitAllConnected(ctx, ids(peers)...)) // connected again
			}
			is.NoErr(a.SendText("b", "still there?"))
			m, err := b.receive(ctx)
			is.NoErr(err)
			is.Equal(string(m.Data), "still there?")                       // data flows on the new connection
			is.True(!slices.Contains(a.eventNames(), "meeting_user_left")) // a never saw b leave
			is.Equal(len(b.Remotes()), 1)                                  // b kept no stale connection
		})
	}
}

// TestFlickerKeepsConnections: a WebSocket that drops and resumes changes nothing for the
// meeting: the peer connections stay, and nobody hears of it.
func TestFlickerKeepsConnections(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1")
	a := dialPeer(ctx, t, srv, "a", nil)
	b := dialPeer(ctx, t, srv, "b", nil)
	startMesh(ctx, t, "r1", []*testPeer{a, b})
	session := b.Session().SessionID
	n := len(b.eventNames())
	na := len(a.eventNames())

	b.DropWebSocket()
	_, _, err := b.waitEvent(ctx, n, named("resumed"))
	is.NoErr(err)                              // the client resumed
	is.Equal(b.Session().SessionID, session)   // the same session
	is.NoErr(b.SendText("a", "after flicker")) // the data channel never noticed
	m, err := a.receive(ctx)
	is.NoErr(err)
	is.Equal(string(m.Data), "after flicker")
	for _, p := range []*testPeer{a, b} {
		for _, st := range p.Remotes() {
			is.Equal(st.Generation, 1) // no connection was replaced
		}
	}
	is.True(!slices.Contains(a.eventNames()[na:], "meeting_user_joined")) // a heard of no rejoin
	is.True(!slices.Contains(a.eventNames()[na:], "meeting_user_left"))   // nor of a leave
}

// TestStopEndsMeeting: the host stops the meeting; everyone else sees meeting_ended then the
// inactive invitation, and every connection closes.
func TestStopEndsMeeting(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1")
	host := dialPeer(ctx, t, srv, "host", nil)
	x := dialPeer(ctx, t, srv, "x", nil)
	y := dialPeer(ctx, t, srv, "y", nil)
	peers := []*testPeer{host, x, y}
	startMesh(ctx, t, "r1", peers)

	err := x.Stop(ctx)
	is.True(errors.Is(err, &signaling.Error{Code: signaling.CodeForbidden})) // only the host stops
	is.Equal(x.Room(), "r1")                                                 // x is still in

	inactive := func(e ws.Event) bool { return e.Event == "meeting_invitation" && field(e, "status") == "inactive" }
	is.NoErr(host.Stop(ctx)) // the host stops
	is.Equal(host.Room(), "")
	_, _, err = host.waitEvent(ctx, 0, inactive)
	is.NoErr(err) // the host's invitation is revoked too
	for _, p := range []*testPeer{x, y} {
		_, i, err := p.waitEvent(ctx, 0, func(e ws.Event) bool { return e.Event == "meeting_ended" && field(e, "reason") == "stopped" })
		is.NoErr(err) // the others see meeting_ended
		_, _, err = p.waitEvent(ctx, i+1, inactive)
		is.NoErr(err) // then the inactive invitation
	}
	for _, p := range peers {
		waitNoRemotes(ctx, t, p)
		is.Equal(p.Room(), "") // nobody is in a meeting
	}
	_, err = x.Join(ctx, "r1")
	is.True(errors.Is(err, &signaling.Error{Code: signaling.CodeNotFound})) // the meeting is gone
}

func TestStartConflict(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1", "r2")
	a := dialPeer(ctx, t, srv, "a", nil)
	b := dialPeer(ctx, t, srv, "b", nil)
	is.NoErr(a.Start(ctx, "r1"))
	err := b.Start(ctx, "r1")
	is.True(errors.Is(err, &signaling.Error{Code: signaling.CodeConflict})) // one meeting per room
	is.Equal(b.Room(), "")                                                  // b is not in it
	err = a.Start(ctx, "r2")
	is.True(errors.Is(err, peer.ErrInOtherMeeting)) // one meeting per peer
}

func TestCloseIsIdempotent(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "r1")
	a := dialPeer(ctx, t, srv, "a", nil)
	b := dialPeer(ctx, t, srv, "b", nil)
	startMesh(ctx, t, "r1", []*testPeer{a, b})
	is.NoErr(a.Close())
	is.NoErr(a.Close()) // a second Close is fine
	_, err := a.Join(ctx, "r1")
	is.True(errors.Is(err, peer.ErrClosed)) // a closed peer does nothing
	is.True(errors.Is(a.WaitConnected(ctx, "b"), peer.ErrClosed))
	// b notices a's connection going away (ICE timeout) or a leaving (participant grace).
	err = b.until(ctx, func() bool {
		st, ok := b.Remote("a")
		return !ok || st.ConnectionState != webrtc.PeerConnectionStateConnected
	})
	is.NoErr(err) // b sees its connection to a go down
}

func waitNoRemotes(ctx context.Context, t *testing.T, p *testPeer) {
	t.Helper()
	if err := p.until(ctx, func() bool { return len(p.Remotes()) == 0 }); err != nil {
		t.Fatalf("%s still has connections %+v: %v", p.id, p.Remotes(), err)
	}
}

func userOf(e ws.Event) string {
	var v struct {
		User signaling.User `json:"user"`
	}
	_ = json.Unmarshal(e.Data, &v)
	return v.User.ID
}

func rejoinOf(e ws.Event) bool {
	var v struct {
		Rejoin bool `json:"rejoin"`
	}
	_ = json.Unmarshal(e.Data, &v)
	return v.Rejoin
}
