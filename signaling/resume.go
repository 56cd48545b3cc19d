package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
)

// replayBuffer keeps what a session was sent, for resume: a ring of at most max entries, none
// older than maxAge. Entries share the encoded bodies with the publish path; the ring grows by
// doubling up to max, so a steady stream of deliveries allocates nothing.
type replayBuffer struct {
	ring     []replayEntry
	head     int // index of the oldest entry
	n        int // entries held
	bytes    int // body bytes held
	max      int
	maxBytes int
	maxAge   time.Duration
}

type replayEntry struct {
	seq  uint64
	body []byte
	at   int64  // Unix nanoseconds (a time.Time would take 24 bytes per entry)
	pid  string // the publish id, when the event came through the Broker
}

func (b *replayBuffer) at(i int) *replayEntry { return &b.ring[(b.head+i)%len(b.ring)] }

func (b *replayBuffer) add(seq uint64, body []byte, now time.Time, pid string) {
	if b.n == len(b.ring) && len(b.ring) < b.max {
		grown := make([]replayEntry, min(max(2*len(b.ring), 8), b.max))
		for i := 0; i < b.n; i++ {
			grown[i] = *b.at(i)
		}
		b.ring, b.head = grown, 0
	}
	if b.n == len(b.ring) { // full: drop the oldest
		b.dropOldest()
	}
	*b.at(b.n) = replayEntry{seq: seq, body: body, at: now.UnixNano(), pid: pid}
	b.n++
	b.bytes += len(body)
	for b.maxBytes > 0 && b.bytes > b.maxBytes && b.n > 1 {
		b.dropOldest()
	}
	b.trim(now)
}

func (b *replayBuffer) dropOldest() {
	b.bytes -= len(b.at(0).body)
	*b.at(0) = replayEntry{} // let the body go
	b.head = (b.head + 1) % len(b.ring)
	b.n--
}

// trim drops entries older than maxAge.
func (b *replayBuffer) trim(now time.Time) {
	cut := now.Add(-b.maxAge).UnixNano()
	for b.n > 0 && b.at(0).at < cut {
		b.dropOldest()
	}
}

func (b *replayBuffer) reset() {
	*b = replayBuffer{max: b.max, maxBytes: b.maxBytes, maxAge: b.maxAge}
}

// after returns the entries with seq > last, or ok=false when the buffer cannot cover the whole
// gap (the session never replays part of a gap). cur is the last seq assigned.
func (b *replayBuffer) after(last, cur uint64, now time.Time) ([]replayEntry, bool) {
	b.trim(now)
	switch {
	case last > cur:
		return nil, false
	case last == cur:
		return nil, true
	case b.n == 0 || b.at(0).seq > last+1:
		return nil, false
	}
	skip := int(last + 1 - b.at(0).seq)
	out := make([]replayEntry, 0, b.n-skip)
	for i := skip; i < b.n; i++ {
		out = append(out, *b.at(i))
	}
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
