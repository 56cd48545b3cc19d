package signaling_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

func TestICEServers(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		cfg  signaling.ICEConfig
		want []signaling.ICEServer
	}{
		{"none", signaling.ICEConfig{}, []signaling.ICEServer{}},
		{"stun only", signaling.ICEConfig{URLs: []string{"stun:stun.example:3478"}},
			[]signaling.ICEServer{{URLs: []string{"stun:stun.example:3478"}}}},
		{"turn without a secret", signaling.ICEConfig{URLs: []string{"turn:t.example:3478"}},
			[]signaling.ICEServer{{URLs: []string{"turn:t.example:3478"}}}},
		{"turn with REST credentials, 1 h", signaling.ICEConfig{URLs: []string{"stun:s:3478", "turn:t:3478", "turns:t:5349"}, TURNSecret: "s3cret", TURNTTL: time.Hour},
			[]signaling.ICEServer{{URLs: []string{"stun:s:3478"}}, {URLs: []string{"turn:t:3478", "turns:t:5349"}, Username: "1800003600:alice", Credential: mac("s3cret", "1800003600:alice")}}},
		{"default TTL is a day", signaling.ICEConfig{URLs: []string{"turn:t:3478"}, TURNSecret: "k"},
			[]signaling.ICEServer{{URLs: []string{"turn:t:3478"}, Username: "1800086400:alice", Credential: mac("k", "1800086400:alice")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			is.Equal(tc.cfg.Servers("alice", now), tc.want) // STUN apart, TURN with coturn REST credentials
		})
	}
}

// mac computes the coturn use-auth-secret credential independently of the package.
func mac(secret, username string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
