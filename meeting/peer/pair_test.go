package peer_test

import (
	"context"
	"testing"

	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/matryer/is"
	"github.com/pion/webrtc/v4"
)

// TestSelectedCandidatePairAndSettingEngine: the SettingEngine hook runs for the Peer's
// connections, and SelectedCandidatePair reports the pair ICE chose (host to host on
// loopback), or an error for a user without a connection.
func TestSelectedCandidatePairAndSettingEngine(t *testing.T) {
	is := is.New(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	srv := newTestServer(t, nil, "pairs")
	hooked := 0
	hook := func(o *peer.Options) { o.SettingEngine = func(*webrtc.SettingEngine) { hooked++ } }
	a := dialPeer(ctx, t, srv, "a", hook)
	b := dialPeer(ctx, t, srv, "b", hook)
	is.Equal(hooked, 2) // once per Peer: its connections share the settings

	_, err := a.SelectedCandidatePair("b")
	is.True(err != nil) // no connection yet
	startMesh(ctx, t, "pairs", []*testPeer{a, b})
	pair, err := a.SelectedCandidatePair("b")
	is.NoErr(err)
	is.Equal(pair.Local.Typ, webrtc.ICECandidateTypeHost) // loopback: host to host
	is.Equal(pair.Remote.Typ, webrtc.ICECandidateTypeHost)
	is.Equal(pair.Local.Address, "127.0.0.1")
}
