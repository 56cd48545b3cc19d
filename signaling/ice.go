package signaling

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// ICEServer is one STUN or TURN server as RTCPeerConnection takes it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEConfig describes the ICE servers handed to clients in `session` and `room_info_response`.
type ICEConfig struct {
	// URLs are STUN and TURN URLs ("stun:host:3478", "turn:host:3478?transport=udp").
	URLs []string
	// TURNSecret, when set, adds TURN REST credentials (the coturn `use-auth-secret` scheme) to
	// the turn: and turns: URLs: username "<expiry-unix>:<userId>", credential
	// base64(HMAC-SHA1(secret, username)).
	TURNSecret string
	// TURNTTL is how long the credentials are valid. Zero means 24 h.
	TURNTTL time.Duration
}

// Servers returns the ICE servers for a user at time now.
func (c ICEConfig) Servers(userID string, now time.Time) []ICEServer {
	var stun, turn []string
	for _, u := range c.URLs {
		if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
			turn = append(turn, u)
		} else {
			stun = append(stun, u)
		}
	}
	out := []ICEServer{}
	if len(stun) > 0 {
		out = append(out, ICEServer{URLs: stun})
	}
	if len(turn) > 0 {
		s := ICEServer{URLs: turn}
		if c.TURNSecret != "" {
			ttl := c.TURNTTL
			if ttl <= 0 {
				ttl = 24 * time.Hour
			}
			s.Username, s.Credential = TURNCredentials(c.TURNSecret, userID, now.Add(ttl))
		}
		out = append(out, s)
	}
	return out
}

// TURNCredentials returns TURN REST API credentials for userID valid until expires.
func TURNCredentials(secret, userID string, expires time.Time) (username, credential string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + userID
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
