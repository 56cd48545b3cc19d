package signaling

import (
	"errors"
	"net/http"
	"strings"
	"time"
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
type DevAuthenticator struct{}

// Authenticate reads the user id from `user` and the display name from `name` (default: the id).
func (DevAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	q := r.URL.Query()
	id := strings.TrimSpace(q.Get("user"))
	if id == "" {
		return Identity{}, errors.Join(ErrUnauthenticated, errors.New("dev auth: ?user= is required"))
	}
	if len(id) > 128 {
		return Identity{}, errors.Join(ErrUnauthenticated, errors.New("dev auth: user id over 128 bytes"))
	}
	name := strings.TrimSpace(q.Get("name"))
	if name == "" {
		name = id
	}
	if len(name) > 128 {
		return Identity{}, errors.Join(ErrUnauthenticated, errors.New("dev auth: name over 128 bytes"))
	}
	return Identity{User: User{ID: id, Username: name}}, nil
}
