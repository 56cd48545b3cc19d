package peer

import (
	"encoding/json"
	"testing"

	"github.com/matryer/is"
)

func TestSDPAttr(t *testing.T) {
	is := is.New(t)
	sdp := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 AB:CD\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=ice-ufrag:later\r\n"
	is.Equal(sdpAttr(sdp, "ice-ufrag"), "abcd")            // the first one counts
	is.Equal(sdpAttr(sdp, "fingerprint"), "sha-256 AB:CD") // without the CRLF
	is.Equal(sdpAttr(sdp, "ice-pwd"), "")                  // missing
	is.Equal(sdpAttr("a=ice-ufrag:x", "ice-ufrag"), "x")   // no line end
}

func TestInSignalShapes(t *testing.T) {
	is := is.New(t)
	var s inSignal
	is.NoErr(json.Unmarshal([]byte(`{"type":"offer","roomId":"r","senderId":"u","sdp":"v=0\r\n"}`), &s))
	is.Equal(s.sdp(), "v=0\r\n") // the protocol's SDP string
	is.NoErr(json.Unmarshal([]byte(`{"type":"offer","sdp":{"type":"offer","sdp":"v=1"}}`), &s))
	is.Equal(s.sdp(), "v=1") // a whole RTCSessionDescriptionInit, as some clients send

	s = inSignal{}
	is.NoErr(json.Unmarshal([]byte(`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"uf"}}`), &s))
	c, ok := s.candidate()
	is.True(ok)                           // RTCIceCandidateInit
	is.Equal(*c.SDPMid, "0")              // sdpMid kept
	is.Equal(*c.SDPMLineIndex, uint16(0)) // sdpMLineIndex kept
	is.Equal(*c.UsernameFragment, "uf")   // usernameFragment kept
	is.NoErr(json.Unmarshal([]byte(`{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`), &s))
	c, ok = s.candidate()
	is.True(ok)                                                          // a bare candidate line
	is.Equal(c.Candidate, "candidate:1 1 udp 1 127.0.0.1 5000 typ host") // as it came
	s = inSignal{}
	_, ok = s.candidate()
	is.True(!ok) // none
}
