package jwtauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/signaling"
)

// Options configures an Authenticator. The zero value of each field means its default.
type Options struct {
	// Leeway tolerates clock skew between the token issuer and this server when checking `exp`
	// (and `nbf`, `iat` when present). Default: 0.
	Leeway time.Duration
	// Clock returns the current time, for tests. Default: time.Now.
	Clock func() time.Time
	// MaxIdentityBytes bounds the `sub` and `username` claims; a token with a longer one is
	// refused with ErrIdentityTooLong. Default: DefaultMaxIdentityBytes (128); negative: no
	// limit.
	MaxIdentityBytes int
}

// DefaultMaxIdentityBytes is the default of Options.MaxIdentityBytes, the same bound as
// signaling.DevAuthenticator's and ws.Options.MaxIdentityBytes'.
const DefaultMaxIdentityBytes = 128

// Authenticator verifies HS256 JWTs. Create one with New.
type Authenticator struct {
	secret []byte
	parser *jwt.Parser
	maxID  int // <= 0: no limit
}

var _ signaling.Authenticator = (*Authenticator)(nil)

// Claims are the claims Authenticator reads: the registered ones (`sub`, `exp`, ...) and
// `username`. Token issuers may use it to build tokens.
type Claims struct {
	Username string `json:"username,omitempty"`
	jwt.RegisteredClaims
}

// New returns an Authenticator that accepts tokens signed with HS256 and secret. It panics if
// secret is empty: an empty HMAC key would let anyone sign tokens. Nil options mean all defaults.
func New(secret []byte, opts *Options) *Authenticator {
	if len(secret) == 0 {
		panic("jwtauth: New needs a non-empty secret")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxIdentityBytes == 0 {
		o.MaxIdentityBytes = DefaultMaxIdentityBytes
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(o.Clock),
	}
	if o.Leeway > 0 {
		popts = append(popts, jwt.WithLeeway(o.Leeway))
	}
	return &Authenticator{
		secret: append([]byte(nil), secret...),
		parser: jwt.NewParser(popts...),
		maxID:  o.MaxIdentityBytes,
	}
}

// ErrNoToken is the cause when a request carries neither `?token=` nor a Bearer header.
var ErrNoToken = errors.New("jwtauth: no token in ?token= or Authorization: Bearer")

// ErrNoSubject is the cause when a valid token has an empty `sub` claim.
var ErrNoSubject = errors.New("jwtauth: token has no sub claim")

// ErrIdentityTooLong is the cause when a valid token's `sub` or `username` is longer than
// Options.MaxIdentityBytes.
var ErrIdentityTooLong = errors.New("jwtauth: sub or username claim too long")

// Authenticate verifies the request's token and returns its user, expiring at `exp`. A Bearer
// header wins over `?token=` when both are present. Every error wraps
// signaling.ErrUnauthenticated, and the jwt cause (jwt.ErrTokenExpired, ...) or ErrNoToken /
// ErrNoSubject / ErrIdentityTooLong.
func (a *Authenticator) Authenticate(r *http.Request) (signaling.Identity, error) {
	raw := bearer(r.Header.Get("Authorization"))
	if raw == "" {
		raw = r.URL.Query().Get("token")
	}
	if raw == "" {
		return signaling.Identity{}, fail(ErrNoToken)
	}
	var c Claims
	_, err := a.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods already refuses other algorithms; this keeps the key from ever
		// reaching a verifier of another kind.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return a.secret, nil
	})
	if err != nil {
		return signaling.Identity{}, fail(err)
	}
	if c.Subject == "" {
		return signaling.Identity{}, fail(ErrNoSubject)
	}
	if a.maxID > 0 && (len(c.Subject) > a.maxID || len(c.Username) > a.maxID) {
		return signaling.Identity{}, fail(fmt.Errorf("%w (over %d bytes)", ErrIdentityTooLong, a.maxID))
	}
	name := c.Username
	if name == "" {
		name = c.Subject
	}
	return signaling.Identity{
		User:    signaling.User{ID: c.Subject, Username: name},
		Expires: c.ExpiresAt.Time,
	}, nil
}

func bearer(h string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func fail(cause error) error {
	return fmt.Errorf("%w: %w", signaling.ErrUnauthenticated, cause)
}
