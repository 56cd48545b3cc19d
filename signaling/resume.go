package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// replayBuffer keeps what a session was sent, for resume. Entries share the encoded bodies with
// the publish path. It holds at most max entries, none older than maxAge.
type replayBuffer struct {
	entries []replayEntry
	max     int
	maxAge  time.Duration
}

type replayEntry struct {
	seq  uint64
	body []byte
	at   time.Time
}

func (b *replayBuffer) add(seq uint64, body []byte, now time.Time) {
	if len(b.entries) >= b.max {
		b.entries[0] = replayEntry{} // let the body go
		b.entries = b.entries[1:]
	}
	b.entries = append(b.entries, replayEntry{seq: seq, body: body, at: now})
	b.trim(now)
}

func (b *replayBuffer) trim(now time.Time) {
	cut := now.Add(-b.maxAge)
	i := 0
	for i < len(b.entries) && b.entries[i].at.Before(cut) {
		b.entries[i] = replayEntry{}
		i++
	}
	b.entries = b.entries[i:]
}

// after returns the entries with seq > last, or ok=false when the buffer cannot cover the whole
// gap (the session never replays part of a gap). cur is the last seq assigned.
func (b *replayBuffer) after(last, cur uint64, now time.Time) ([]replayEntry, bool) {
	b.trim(now)
	if last > cur {
		return nil, false
	}
	if last == cur {
		return nil, true
	}
	if len(b.entries) == 0 || b.entries[0].seq > last+1 {
		return nil, false
	}
	i := int(last + 1 - b.entries[0].seq)
	out := make([]replayEntry, len(b.entries)-i)
	copy(out, b.entries[i:])
	return out, true
}

// Resume tokens are "<sessionID>.<mac>", the MAC binding the session to its user under the
// node's secret, so that a garbled token or another user's token is refused without a lookup.
func resumeToken(secret []byte, sessionID, userID string) string {
	return sessionID + "." + resumeMAC(secret, sessionID, userID)
}

func resumeMAC(secret []byte, sessionID, userID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(sessionID))
	m.Write([]byte{0})
	m.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// parseResumeToken returns the session id of a token issued to userID.
func parseResumeToken(secret []byte, token, userID string) (string, bool) {
	sid, mac, ok := strings.Cut(token, ".")
	if !ok || sid == "" {
		return "", false
	}
	want := resumeMAC(secret, sid, userID)
	return sid, hmac.Equal([]byte(mac), []byte(want))
}
