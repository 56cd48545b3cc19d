package turnserver

import (
	"crypto/subtle"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/pion/turn/v4"
)

// authenticate is Pion's AuthHandler: it returns the long-term key for username when username
// is a TURN REST username that has not expired, in this server's realm. Pion then checks the
// request's MESSAGE-INTEGRITY with that key, so a wrong password, or one minted for another
// username (another user, another expiry), fails there.
func (s *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	user, expires, ok := parseUsername(username)
	switch {
	case !ok:
		s.refuse("malformed username", username, src)
		return nil, false
	case !s.clock.Now().Before(expires):
		s.refuse("expired credentials", username, src)
		return nil, false
	case subtle.ConstantTimeCompare([]byte(realm), []byte(s.opts.Realm)) != 1:
		s.refuse("wrong realm", username, src)
		return nil, false
	}
	name, password := signaling.TURNCredentials(s.opts.Secret, user, expires)
	if name != username {
		// Not the canonical form signaling produces ("0042:bob" for "42:bob"): refuse rather than
		// accept two spellings of one credential.
		s.refuse("non-canonical username", username, src)
		return nil, false
	}
	return turn.GenerateAuthKey(username, realm, password), true
}

// parseUsername splits "<expiry-unix>:<userId>".
func parseUsername(username string) (user string, expires time.Time, ok bool) {
	exp, user, ok := strings.Cut(username, ":")
	if !ok || user == "" {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || sec <= 0 {
		return "", time.Time{}, false
	}
	return user, time.Unix(sec, 0), true
}

// userOf returns the userId of a username that authenticated.
func userOf(username string) string {
	_, user, _ := strings.Cut(username, ":")
	return user
}

func (s *Server) refuse(why, username string, src net.Addr) {
	s.authFailures.Add(1)
	s.log.Debug("turn: credentials refused", "why", why, "username", username, "from", src.String())
}

// onAuth counts the refusals Pion decides (a wrong password: MESSAGE-INTEGRITY does not match).
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	if !verdict {
		s.refuse("wrong password ("+method+")", username, src)
	}
}

// quota is Pion's QuotaHandler, asked before each allocation of an authenticated user. Pion
// handles one listening socket's requests in order, so over UDP the check and the count
// (onAllocationCreated) cannot interleave; requests on separate TCP connections can, by at most
// one allocation per connection.
func (s *Server) quota(username, _ string, src net.Addr) bool {
	if s.opts.MaxAllocationsPerUser < 0 {
		return true
	}
	user := userOf(username)
	s.mu.Lock()
	n := s.users[user]
	s.mu.Unlock()
	if n >= s.opts.MaxAllocationsPerUser {
		s.quotaRejections.Add(1)
		s.log.Debug("turn: allocation quota reached", "user", user, "allocations", n, "from", src.String())
		return false
	}
	return true
}

func (s *Server) onAllocationCreated(src, _ net.Addr, protocol, username, _ string, relay net.Addr, _ int) {
	s.allocationsTotal.Add(1)
	user := userOf(username)
	s.mu.Lock()
	s.users[user]++
	s.live++
	s.mu.Unlock()
	s.log.Debug("turn: allocation created", "user", user, "from", src.String(), "protocol", protocol, "relay", relay.String())
}

func (s *Server) onAllocationDeleted(src, _ net.Addr, protocol, username, _ string) {
	user := userOf(username)
	s.mu.Lock()
	if s.users[user] <= 1 {
		delete(s.users, user) // the map holds only users with allocations
	} else {
		s.users[user]--
	}
	if s.live--; s.live == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
	s.log.Debug("turn: allocation deleted", "user", user, "from", src.String(), "protocol", protocol)
}
