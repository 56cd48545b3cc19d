package jwtauth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/matryer/is"
)

var (
	secret = []byte("test-secret-0123456789")
	now    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func TestAuthenticate(t *testing.T) {
	is := is.New(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	is.NoErr(err) // RSA key for the RS256 cases
	exp := now.Add(time.Hour)
	valid := jwt.MapClaims{"sub": "u1", "username": "Una", "exp": exp.Unix()}
	a := jwtauth.New(secret, &jwtauth.Options{Clock: func() time.Time { return now }})

	cases := []struct {
		name   string
		query  string // ?token=
		header string // Authorization
		user   signaling.User
		cause  error // nil: success
	}{
		{name: "valid via query", query: sign(t, jwt.SigningMethodHS256, secret, valid), user: signaling.User{ID: "u1", Username: "Una"}},
		{name: "valid via header", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid), user: signaling.User{ID: "u1", Username: "Una"}},
		{name: "header scheme is case-insensitive", header: "bearer " + sign(t, jwt.SigningMethodHS256, secret, valid), user: signaling.User{ID: "u1", Username: "Una"}},
		{name: "header wins over query", query: "garbage", header: "Bearer " + sign(t, jwt.SigningMethodHS256, secret, valid), user: signaling.User{ID: "u1", Username: "Una"}},
		{name: "username falls back to sub", query: sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u2", "exp": exp.Unix()}), user: signaling.User{ID: "u2", Username: "u2"}},
		{name: "missing", cause: jwtauth.ErrNoToken},
		{name: "basic auth is not a token", header: "Basic dTE6cHc=", cause: jwtauth.ErrNoToken},
		{name: "malformed", query: "not.a.jwt", cause: jwt.ErrTokenMalformed},
		{name: "expired", query: sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "exp": now.Add(-time.Second).Unix()}), cause: jwt.ErrTokenExpired},
		{name: "wrong secret", query: sign(t, jwt.SigningMethodHS256, []byte("another-secret"), valid), cause: jwt.ErrTokenSignatureInvalid},
		{name: "alg none", query: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), cause: jwt.ErrTokenSignatureInvalid},
		{name: "RS256 signed with an RSA key", query: sign(t, jwt.SigningMethodRS256, rsaKey, valid), cause: jwt.ErrTokenSignatureInvalid},
		{name: "RS256 header over an HMAC signature", query: rsHeaderHMACSig(t, valid), cause: jwt.ErrTokenSignatureInvalid},
		{name: "HS512", query: sign(t, jwt.SigningMethodHS512, secret, valid), cause: jwt.ErrTokenSignatureInvalid},
		{name: "missing sub", query: sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"username": "Una", "exp": exp.Unix()}), cause: jwtauth.ErrNoSubject},
		{name: "sub at the limit", query: sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": strings.Repeat("s", 128), "exp": exp.Unix()}), user: signaling.User{ID: strings.Repeat("s", 128), Username: strings.Repeat("s", 128)}},
		{name: "20 KB sub", query: sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": strings.Repeat("s", 20<<10), "exp": exp.Unix()}), cause: jwtauth.ErrIdentityTooLong},
		{name: "long username", query: sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "username": strings.Repeat("n", 129), "exp": exp.Unix()}), cause: jwtauth.ErrIdentityTooLong},
		{name: "missing exp", query: sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "username": "Una"}), cause: jwt.ErrTokenRequiredClaimMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			target := "/ws"
			if tc.query != "" {
				target += "?token=" + url.QueryEscape(tc.query)
			}
			r := httptest.NewRequest("GET", target, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			id, err := a.Authenticate(r)
			if tc.cause == nil {
				is.NoErr(err)                  // the token is accepted
				is.Equal(id.User, tc.user)     // user from sub and username
				is.True(id.Expires.Equal(exp)) // Expires is exp
				return
			}
			is.True(err != nil)                                   // the token is refused
			is.True(errors.Is(err, signaling.ErrUnauthenticated)) // a 401 for the transport
			is.True(errors.Is(err, tc.cause))                     // the specific cause
			is.Equal(id, signaling.Identity{})                    // no identity on failure
		})
	}
}

// rsHeaderHMACSig forges a token whose header claims RS256 but whose signature is an HS256 MAC
// with the secret: the classic algorithm-confusion shape.
func rsHeaderHMACSig(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	ss, err := tok.SigningString()
	if err != nil {
		t.Fatalf("signing string: %v", err)
	}
	sig, err := jwt.SigningMethodHS256.Sign(ss, secret)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return ss + "." + tok.EncodeSegment(sig)
}

func TestLeeway(t *testing.T) {
	is := is.New(t)
	tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "u1", "exp": now.Add(-10 * time.Second).Unix()})
	is.True(tok != "") // a token that expired 10s ago
	cases := []struct {
		name   string
		leeway time.Duration
		ok     bool
	}{
		{"no leeway", 0, false},
		{"leeway covers the skew", 30 * time.Second, true},
		{"leeway too small", 5 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			a := jwtauth.New(secret, &jwtauth.Options{Leeway: tc.leeway, Clock: func() time.Time { return now }})
			r := httptest.NewRequest("GET", "/ws?token="+tok, nil)
			_, err := a.Authenticate(r)
			is.Equal(err == nil, tc.ok) // leeway tolerates a small skew only
		})
	}
}

func TestNewPanicsOnEmptySecret(t *testing.T) {
	is := is.New(t)
	defer func() {
		is.True(recover() != nil) // an empty HMAC key is refused loudly
	}()
	jwtauth.New(nil, nil)
}
