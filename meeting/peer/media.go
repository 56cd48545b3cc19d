package peer

import (
	"net"
	"strings"
	"time"

	"github.com/huddle-go/huddle/internal/pionlog"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// newAPI builds the Pion API every connection of a Peer shares: default codecs and
// interceptors, Pion's logs routed to the Peer's logger, and the ICE settings of o.
func newAPI(o *Options) *webrtc.API {
	var se webrtc.SettingEngine
	se.LoggerFactory = pionlog.Factory{Log: o.Logger}
	if o.ICEDisconnectedTimeout > 0 || o.ICEFailedTimeout > 0 || o.ICEKeepaliveInterval > 0 {
		// SetICETimeouts sets all three; keep Pion's defaults for the ones not given.
		d, f, k := 5*time.Second, 25*time.Second, 2*time.Second
		if o.ICEDisconnectedTimeout > 0 {
			d = o.ICEDisconnectedTimeout
		}
		if o.ICEFailedTimeout > 0 {
			f = o.ICEFailedTimeout
		}
		if o.ICEKeepaliveInterval > 0 {
			k = o.ICEKeepaliveInterval
		}
		se.SetICETimeouts(d, f, k)
	}
	if o.LoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetInterfaceFilter(isLoopbackInterface)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if o.SettingEngine != nil {
		o.SettingEngine(&se)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

func isLoopbackInterface(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagLoopback != 0
}

// iceServers returns the STUN and TURN servers for a new connection.
func (p *Peer) iceServers() []webrtc.ICEServer {
	switch {
	case p.opts.LoopbackOnly:
		return nil
	case p.opts.ICEServers != nil:
		return p.opts.ICEServers
	}
	var out []webrtc.ICEServer
	for _, s := range p.client.Session().ICEServers {
		is := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			is.Credential = s.Credential
		}
		out = append(out, is)
	}
	return out
}

func mediaSample(data []byte, d time.Duration) media.Sample {
	return media.Sample{Data: data, Duration: d}
}

// sdpAttr returns the value of the first "a=<name>:" line of an SDP.
func sdpAttr(sdp, name string) string {
	prefix := "a=" + name + ":"
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// sdpSessionID returns the sess-id of the SDP's origin line ("o=<user> <sess-id> <version> ..."),
// which stays the same for the life of an RTCPeerConnection (RFC 3264 §8).
func sdpSessionID(sdp string) string {
	for line := range strings.Lines(sdp) {
		if v, ok := strings.CutPrefix(line, "o="); ok {
			if f := strings.Fields(v); len(f) > 1 {
				return f[1]
			}
			return ""
		}
	}
	return ""
}
