package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
	"github.com/pion/ice/v4"
	"github.com/pion/turn/v4"
	"github.com/pion/webrtc/v4"
)

// Tests of the embedded TURN server (-turn-listen): configuration, the session's iceServers,
// calls between Pion peers that can only meet through the relay, and a browser forced to relay.

func TestTURNConfigRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
		env  map[string]string
	}{
		{"no secret", []string{"-dev-auth", "-turn-listen", "127.0.0.1:0"}, "needs -turn-secret", nil},
		{"no secret, listen from the environment", []string{"-dev-auth"}, "needs -turn-secret", map[string]string{"HUDDLE_TURN_LISTEN": "127.0.0.1:0"}},
		{"a bad port range from the environment", []string{"-dev-auth"}, "want MIN-MAX", map[string]string{"HUDDLE_TURN_RELAY_PORTS": "50000"}},
		{"all interfaces without a public IP", []string{"-dev-auth", "-turn-secret", "k", "-turn-listen", "0.0.0.0:0"}, "set -turn-public-ip", nil},
		{"a bad public IP", []string{"-dev-auth", "-turn-secret", "k", "-turn-listen", "0.0.0.0:0", "-turn-public-ip", "example.org"}, "not an IP address", nil},
		{"a bad port range", []string{"-dev-auth", "-turn-relay-ports", "60000-50000"}, "want MIN-MAX", nil},
		{"a bad transport policy", []string{"-dev-auth", "-ice-transport-policy", "direct"}, "want all or relay", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			is.True(err != nil)                             // the server refuses to start
			is.True(strings.Contains(err.Error(), tc.want)) // with a message that says why
		})
	}
}

// startTURNServer runs the reference server with an embedded TURN server on loopback.
func startTURNServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	return startServer(t, append([]string{"-dev-auth", "-turn-secret", "turn-test-secret", "-turn-listen", "127.0.0.1:0"}, args...)...)
}

func TestTURNInSessionAndConfig(t *testing.T) {
	is := is.New(t)
	ts := startTURNServer(t, "-ice-transport-policy", "relay", "-ice-servers", "stun:stun.example.org:3478")
	c := ts.dial(t, signaling.User{ID: "alice", Username: "Alice"}, "")
	var session struct {
		ICEServers []signaling.ICEServer `json:"iceServers"`
	}
	is.NoErr(json.Unmarshal(c.Expect("session", wait).Data, &session))
	is.Equal(len(session.ICEServers), 2)                                         // STUN, then TURN
	is.Equal(session.ICEServers[0].URLs, []string{"stun:stun.example.org:3478"}) // -ice-servers kept
	turn := session.ICEServers[1]
	is.Equal(len(turn.URLs), 2) // the embedded server over UDP and TCP
	is.True(strings.HasPrefix(turn.URLs[0], "turn:127.0.0.1:") && strings.HasSuffix(turn.URLs[0], "?transport=udp"))
	is.True(strings.HasSuffix(turn.URLs[1], "?transport=tcp"))
	is.True(strings.HasSuffix(turn.Username, ":alice")) // TURN REST credentials for this user
	is.True(turn.Credential != "")

	res, err := http.Get(ts.URL + "/config.json")
	is.NoErr(err)
	defer res.Body.Close()
	var cfg map[string]any
	is.NoErr(json.NewDecoder(res.Body).Decode(&cfg))
	is.Equal(cfg["iceTransportPolicy"], "relay") // the page takes its policy from here

	m := metrics(t, ts)
	_, ok := m["huddle_turn_allocations"]
	is.True(ok) // the TURN counters are exported
}

// metrics scrapes /metrics into name → value (series without labels only).
func metrics(t *testing.T, ts *testServer) map[string]float64 {
	t.Helper()
	res, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// relayPeer dials a Pion peer that takes its TURN servers from the session event. adjust may
// change the Pion settings (e.g. open the sockets in a network namespace).
func relayPeer(t *testing.T, ts *testServer, user string, policy webrtc.ICETransportPolicy, adjust func(*webrtc.SettingEngine)) (*peer.Peer, <-chan peer.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	data := make(chan peer.Message, 16)
	p, err := peer.Dial(ctx, fmt.Sprintf("%s?user=%s&name=%s", ts.WS, user, user), &peer.Options{
		JoinRoom:           true,
		ICETransportPolicy: policy,
		SettingEngine: func(se *webrtc.SettingEngine) {
			se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
			if adjust != nil {
				adjust(se)
			}
		},
		OnData: func(m peer.Message) {
			select {
			case data <- m:
			default:
				t.Errorf("%s: data message dropped: %q", user, m.Data)
			}
		},
	})
	if err != nil {
		t.Fatalf("peer %s: %v", user, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, data
}

// relayedCall has a start a meeting and b join it, waits for both connections, exchanges a
// message each way and returns the selected candidate pairs of a and b.
func relayedCall(t *testing.T, room string, a, b *peer.Peer, aData, bData <-chan peer.Message) (aPair, bPair *webrtc.ICECandidatePair) {
	t.Helper()
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	is.NoErr(a.Start(ctx, room))
	_, err := b.Join(ctx, room)
	is.NoErr(err)
	aID, bID := a.User().ID, b.User().ID
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = a.WaitConnected(ctx, bID) }()
	go func() { defer wg.Done(); errs[1] = b.WaitConnected(ctx, aID) }()
	wg.Wait()
	is.NoErr(errs[0]) // a reaches connected, its data channel open
	is.NoErr(errs[1]) // and so does b

	is.NoErr(a.SendText(bID, "hello from "+aID))
	is.NoErr(b.SendText(aID, "hello from "+bID))
	for _, want := range []struct {
		ch   <-chan peer.Message
		from string
	}{{bData, aID}, {aData, bID}} {
		select {
		case m := <-want.ch:
			is.Equal(m.From, want.from)                    // each hears the other
			is.Equal(string(m.Data), "hello from "+m.From) // intact
		case <-ctx.Done():
			t.Fatalf("no data message from %s", want.from)
		}
	}
	aPair, err = a.SelectedCandidatePair(bID)
	is.NoErr(err)
	bPair, err = b.SelectedCandidatePair(aID)
	is.NoErr(err)
	t.Logf("%s: %s", aID, aPair)
	t.Logf("%s: %s", bID, bPair)
	return aPair, bPair
}

// TestRelayedCallOnLoopback: two Pion peers restricted to relay candidates
// (ICETransportPolicy relay) connect through the embedded TURN server and exchange data.
func TestRelayedCallOnLoopback(t *testing.T) {
	is := is.New(t)
	ts := startTURNServer(t)
	alice, aliceData := relayPeer(t, ts, "alice", webrtc.ICETransportPolicyRelay, nil)
	bob, bobData := relayPeer(t, ts, "bob", webrtc.ICETransportPolicyRelay, nil)
	aPair, bPair := relayedCall(t, "relayed", alice, bob, aliceData, bobData)
	for _, pair := range []*webrtc.ICECandidatePair{aPair, bPair} {
		is.Equal(pair.Local.Typ, webrtc.ICECandidateTypeRelay)  // each sends through its relay
		is.Equal(pair.Remote.Typ, webrtc.ICECandidateTypeRelay) // to the other's relay
	}
	m := metrics(t, ts)
	is.True(m["huddle_turn_allocations"] >= 2)                   // one allocation each at least
	is.True(m["huddle_turn_relayed_to_peers_bytes_total"] > 0)   // the call went through it
	is.True(m["huddle_turn_relayed_to_clients_bytes_total"] > 0) // both ways
	is.Equal(m["huddle_turn_auth_failures_total"], 0.0)          // the session's credentials were accepted
}

// turnPairsJS defines __turnPairs(): for each open connection of the page, the candidate
// types and addresses of its selected pair ("relay 127.0.0.1:50000 <-> relay …"), or "".
const turnPairsJS = `(window.__turnPairs = async () => Promise.all(window.huddle.state.peerConnections()
  .filter((pc) => pc.connectionState !== 'closed')
  .map(async (pc) => {
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((r) => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
    const l = pair && stats.get(pair.localCandidateId), r = pair && stats.get(pair.remoteCandidateId);
    return l && r ? l.candidateType + ' ' + l.address + ':' + l.port + ' <-> ' + r.candidateType + ' ' + r.address + ':' + r.port : '';
  })), true)`

// TestBrowserCallThroughTURN: with -ice-transport-policy relay the page gives its
// RTCPeerConnections iceTransportPolicy "relay", so two Chromium tabs and a Pion bot can only
// use the embedded TURN server: video decodes in both tabs, the bot receives a tab's audio, and
// every browser connection's selected pair is relayed.
func TestBrowserCallThroughTURN(t *testing.T) {
	is := is.New(t)
	ts := startTURNServer(t, "-ice-transport-policy", "relay")
	b := newBrowser(t)
	alice, bob := b.newPage("alice"), b.newPage("bob")
	alice.signIn(ts.URL, "Alice")
	bob.signIn(ts.URL, "Bob")
	for _, p := range []*page{alice, bob} {
		p.joinRoom("relayed")
		is.Equal(eval[string](p, `window.huddle.client.iceTransportPolicy`), "relay") // taken from config.json
		is.True(eval[bool](p, turnPairsJS))
	}
	alice.startMeeting()
	bob.do(chromedp.WaitVisible(chromedp.CSS("#invitation")), chromedp.Click(chromedp.CSS("#invitation-join")))
	bob.waitInCall()
	alice.waitVideoFrom("bob") // video decodes both ways, through the relay
	bob.waitVideoFrom("alice")

	bot, _ := relayPeer(t, ts, "bot", webrtc.ICETransportPolicyRelay, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := bot.Join(ctx, "relayed")
	is.NoErr(err)                          // the bot joins the browsers' meeting
	is.NoErr(bot.WaitRTP(ctx, "alice", 5)) // and receives Alice's media
	pair, err := bot.SelectedCandidatePair("alice")
	is.NoErr(err)
	is.Equal(pair.Local.Typ, webrtc.ICECandidateTypeRelay) // the bot's side is relayed too
	alice.waitJS("the bot's audio", `__huddleTest.inbound('audio').then((s) => s.packets > 0)`, browserWait)

	for _, p := range []*page{alice, bob} {
		p.waitJS("a selected pair on every connection", `__turnPairs().then((ps) => ps.length === 2 && ps.every((x) => x !== ''))`, browserWait)
		pairs := eval[[]string](p, `__turnPairs()`)
		t.Logf("%s: %v", p.name, pairs) // first: the pairs are what a failure needs to be read
		for _, pr := range pairs {
			is.True(strings.HasPrefix(pr, "relay ")) // the browser sends through its TURN allocation
		}
	}
	// Video goes through the relay: let more frames arrive, with a deadline, until 100 kB of
	// it has crossed (a slow machine may not be there yet when the pairs are up).
	m := metrics(t, ts)
	for end := time.Now().Add(browserWait); m["huddle_turn_relayed_to_peers_bytes_total"] <= 1e5 && time.Now().Before(end); m = metrics(t, ts) {
		alice.waitFramesGrow("video through the relay")
	}
	is.True(m["huddle_turn_allocations"] >= 3)                   // the tabs' and the bot's allocations
	is.True(m["huddle_turn_relayed_to_peers_bytes_total"] > 1e5) // video went through the relay
	is.Equal(alice.errorShown(), "")                             // no error shown
	is.Equal(bob.errorShown(), "")
}

// TestShutdownClosesTURN: stopping the server closes the TURN server with its allocations, its
// sockets and its goroutines.
func TestShutdownClosesTURN(t *testing.T) {
	is := is.New(t)
	base := runtime.NumGoroutine()
	ts := startTURNServer(t)
	c := ts.dial(t, signaling.User{ID: "alice", Username: "Alice"}, "")
	var session struct {
		ICEServers []signaling.ICEServer `json:"iceServers"`
	}
	is.NoErr(json.Unmarshal(c.Expect("session", wait).Data, &session))
	s := session.ICEServers[0]
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URLs[0], "turn:"), "?transport=udp")

	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	is.NoErr(err)
	client, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr, Conn: conn, Username: s.Username, Password: s.Credential})
	is.NoErr(err)
	is.NoErr(client.Listen())
	relay, err := client.Allocate()
	is.NoErr(err) // the session's credentials get an allocation
	is.Equal(metrics(t, ts)["huddle_turn_allocations"], 1.0)

	is.NoErr(ts.stop(t)) // a clean shutdown
	c.ExpectClosed(wait)
	_ = relay.Close()
	client.Close()
	_ = conn.Close()
	again, err := net.ListenPacket("udp4", addr)
	is.NoErr(err) // the TURN port is free again
	_ = again.Close()
	waitGoroutines(t, base)
}
