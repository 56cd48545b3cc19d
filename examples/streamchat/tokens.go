package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/examples/streamchat/accounts"
	"github.com/huddle-go/huddle/signaling"
)

// claims are the access token's claims, as the original issued them: sub, username, iat, exp.
type claims struct {
	Username string `json:"username"`
	jwt.RegisteredClaims
}

// clockSkew is how far the clocks of the nodes sharing the token secret may disagree: a token
// minted by a node that is ahead is not refused as issued in the future.
const clockSkew = 5 * time.Second

// tokens mints and checks access tokens (HS256 JWTs) and refresh tokens (opaque, stored hashed).
type tokens struct {
	secret     []byte
	accessTTL  time.Duration
	refreshTTL time.Duration
	clock      clock.Clock
	store      *accounts.Store
	parser     *jwt.Parser
}

func newTokens(secret []byte, accessTTL, refreshTTL time.Duration, c clock.Clock, st *accounts.Store) *tokens {
	return &tokens{
		secret: secret, accessTTL: accessTTL, refreshTTL: refreshTTL, clock: c, store: st,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(clockSkew),
			jwt.WithTimeFunc(c.Now),
		),
	}
}

// pair is what register, login and refresh answer.
type pair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// access mints an access token for u.
func (t *tokens) access(u accounts.User) (string, error) {
	now := t.clock.Now()
	c := claims{Username: u.Username, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   u.ID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(t.accessTTL)),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", fmt.Errorf("streamchat: sign access token: %w", err)
	}
	return s, nil
}

// newRefresh returns a fresh refresh token: the string handed out ("<id>.<secret>") and the
// record to store, which keeps only the SHA-256 of the secret. The secret is 32 random bytes, so
// a fast hash is enough: there is nothing to guess from it.
func (t *tokens) newRefresh(userID, family string) (string, accounts.RefreshToken) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	secret := base64.RawURLEncoding.EncodeToString(b)
	id := uuid.NewString()
	if family == "" {
		family = id
	}
	now := t.clock.Now()
	return id + "." + secret, accounts.RefreshToken{
		ID: id, UserID: userID, Family: family, Hash: hashSecret(secret),
		CreatedAt: now, ExpiresAt: now.Add(t.refreshTTL),
	}
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// signIn mints the pair of a new sign-in of u.
func (t *tokens) signIn(ctx context.Context, u accounts.User) (pair, error) {
	at, err := t.access(u)
	if err != nil {
		return pair{}, err
	}
	rt, rec := t.newRefresh(u.ID, "")
	if err := t.store.AddRefresh(ctx, rec); err != nil {
		return pair{}, err
	}
	return pair{AccessToken: at, RefreshToken: rt}, nil
}

// errBadRefresh: a refresh token that is malformed, unknown, expired or revoked.
var errBadRefresh = errors.New("streamchat: bad refresh token")

// rotate consumes a refresh token and returns a new pair for its user. A reused token revokes
// its family (accounts.ErrTokenReused); any other bad token is errBadRefresh.
func (t *tokens) rotate(ctx context.Context, raw string) (pair, error) {
	id, secret, ok := strings.Cut(strings.TrimSpace(raw), ".")
	if !ok || id == "" || secret == "" || len(raw) > 200 {
		return pair{}, errBadRefresh
	}
	next, rec := t.newRefresh("", "")
	stored, err := t.store.RotateRefresh(ctx, id, hashSecret(secret), t.clock.Now(), rec)
	switch {
	case errors.Is(err, accounts.ErrTokenInvalid):
		return pair{}, errBadRefresh
	case err != nil:
		return pair{}, err
	}
	u, err := t.store.User(ctx, stored.UserID)
	if errors.Is(err, accounts.ErrNotFound) {
		return pair{}, errBadRefresh
	}
	if err != nil {
		return pair{}, err
	}
	at, err := t.access(u)
	if err != nil {
		return pair{}, err
	}
	return pair{AccessToken: at, RefreshToken: next}, nil
}

// principal is an authenticated caller: the user as stored now, and the token's claims.
type principal struct {
	user   accounts.User
	claims claims
}

// errUnauthorized: no token, a bad or expired one, or a token of a user that no longer exists.
var errUnauthorized = errors.New("streamchat: unauthorized")

// verify checks an access token and that its user still exists.
func (t *tokens) verify(ctx context.Context, raw string) (principal, error) {
	if raw == "" {
		return principal{}, fmt.Errorf("%w: no token", errUnauthorized)
	}
	var c claims
	if _, err := t.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.secret, nil }); err != nil {
		return principal{}, fmt.Errorf("%w: %w", errUnauthorized, err)
	}
	if c.Subject == "" {
		return principal{}, fmt.Errorf("%w: no sub", errUnauthorized)
	}
	u, err := t.store.User(ctx, c.Subject)
	if errors.Is(err, accounts.ErrNotFound) {
		return principal{}, fmt.Errorf("%w: user %s does not exist", errUnauthorized, c.Subject)
	}
	if err != nil {
		return principal{}, fmt.Errorf("%w: %w", signaling.ErrUnavailable, err)
	}
	return principal{user: u, claims: c}, nil
}

// bearer returns the token of an `Authorization: Bearer` header.
func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// Authenticate is the WebSocket's authenticator: the access token from ?token= (what the app
// sends) or a Bearer header. The session does not end at the token's exp: see docs/streamchat.md.
func (t *tokens) Authenticate(r *http.Request) (signaling.Identity, error) {
	raw := bearer(r)
	if raw == "" {
		raw = r.URL.Query().Get("token")
	}
	p, err := t.verify(r.Context(), raw)
	if errors.Is(err, errUnauthorized) {
		return signaling.Identity{}, fmt.Errorf("%w: %w", signaling.ErrUnauthenticated, err)
	}
	if err != nil {
		return signaling.Identity{}, err
	}
	return signaling.Identity{User: signaling.User{ID: p.user.ID, Username: p.user.Username}}, nil
}
