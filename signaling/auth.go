package signaling

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Authenticator establishes who opens a connection, before the WebSocket upgrade. A failure is
// answered with HTTP 401 and no upgrade. Implementations are safe for concurrent use.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (Identity, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, error) { return f(r) }

// Identity is what an Authenticator establishes: the user, and when its credentials expire. A
// live session is closed with 1008 when Expires passes; the zero time never expires.
type Identity struct {
	User    User
	Expires time.Time
}

// ErrUnauthenticated is returned (wrapped) by authenticators for missing or bad credentials.
var ErrUnauthenticated = errors.New("signaling: unauthenticated")

// DevAuthenticator trusts `?user=<id>&name=<username>` as it comes. It is for development and
// tests only: anyone can claim any user. The reference server enables it with -dev-auth.
// Without `user`, the id is derived from `name` by DevUserID, so a sign-in form needs to ask
// for a display name only.
type DevAuthenticator struct{}

// maxDevID bounds user ids and names in dev auth, in bytes.
const maxDevID = 128

// Authenticate reads the user id from `user` (default: DevUserID of `name`) and the display
// name from `name` (default: the id).
func (DevAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	q := r.URL.Query()
	id := strings.TrimSpace(q.Get("user"))
	name := strings.TrimSpace(q.Get("name"))
	if id == "" && name != "" && len(name) <= maxDevID {
		id = DevUserID(name)
	}
	if id == "" {
		return Identity{}, errors.Join(ErrUnauthenticated, errors.New("dev auth: ?user= or ?name= is required"))
	}
	if len(id) > maxDevID {
		return Identity{}, errors.Join(ErrUnauthenticated, errors.New("dev auth: user id over 128 bytes"))
	}
	if name == "" {
		name = id
	}
	if len(name) > maxDevID {
		return Identity{}, errors.Join(ErrUnauthenticated, errors.New("dev auth: name over 128 bytes"))
	}
	return Identity{User: User{ID: id, Username: name}}, nil
}

// DevUserID derives a stable user id from a display name, for any script: names that differ
// only in letter case or surrounding/repeated white space give the same id, other names give
// different ids. A name of lower-case letters, digits, marks and "-_." is its own id ("李",
// "jürgen", "alice"); any other name becomes a readable slug plus 10 hex digits of the name's
// SHA-256 ("Alice Smith" → "alice-smith-3f1c…"), so that "a b" and "a-b" stay two users. The
// id is at most 128 bytes. Go has no Unicode normalisation in its standard library: clients
// should send names in NFC (the browser client does), so that "ü" typed two ways is one user.
func DevUserID(name string) string {
	norm := strings.ToLower(strings.Join(strings.Fields(name), " "))
	var b strings.Builder
	for _, r := range norm {
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) || r == '-' || r == '_' || r == '.':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	slug := b.String()
	if slug == norm && slug != "" && len(slug) <= maxDevID {
		return slug
	}
	sum := sha256.Sum256([]byte(norm))
	suffix := hex.EncodeToString(sum[:5])
	for len(slug) > maxDevID-len(suffix)-1 {
		_, size := utf8.DecodeLastRuneInString(slug)
		slug = slug[:len(slug)-size]
	}
	if slug == "" {
		return "u-" + suffix
	}
	return slug + "-" + suffix
}
