package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// testSecret is a -jwt-secret long enough to be accepted (32 bytes or more).
const testSecret = "server-secret-0123456789abcdef-xyz"

func token(t *testing.T, secret string, sub string, exp time.Time) string {
	t.Helper()
	c := jwtauth.Claims{Username: "Dana", RegisteredClaims: jwt.RegisteredClaims{Subject: sub}}
	if !exp.IsZero() {
		c.ExpiresAt = jwt.NewNumericDate(exp)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWTBeforeUpgrade: the reference server with -jwt-secret answers a bad, missing or expired
// token with HTTP 401 before any upgrade, and accepts a good one.
func TestJWTBeforeUpgrade(t *testing.T) {
	ts := startServer(t, "-jwt-secret", testSecret)
	hour := time.Now().Add(time.Hour)
	tests := []struct {
		name  string
		query string
		ok    bool
	}{
		{"valid", "?token=" + token(t, testSecret, "dana", hour), true},
		{"missing", "", false},
		{"garbage", "?token=not-a-jwt", false},
		{"wrong secret", "?token=" + token(t, "other-secret", "dana", hour), false},
		{"expired", "?token=" + token(t, testSecret, "dana", time.Now().Add(-time.Minute)), false},
		{"no exp", "?token=" + token(t, testSecret, "dana", time.Time{}), false},
		{"dev params are not accepted", "?user=dana&name=Dana", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			conn, res, err := ws.Dial(ctx, ts.WS+tc.query, nil)
			if !tc.ok {
				is.True(err != nil) // refused
				var he *ws.HandshakeError
				is.True(errors.As(err, &he))                          // by the handshake
				is.Equal(he.StatusCode, http.StatusUnauthorized)      // with 401
				is.Equal(he.Code, "unauthorized")                     // and a JSON body
				is.True(errors.Is(err, signaling.ErrUnauthenticated)) // that Go callers can test
				return
			}
			is.NoErr(err)
			is.Equal(res.StatusCode, http.StatusSwitchingProtocols) // upgraded
			c := signalingtest.NewClient(t, conn, signaling.JSON)
			var s struct{ User signaling.User }
			is.NoErr(c.Expect("session", wait).Bind(&s))
			is.Equal(s.User, signaling.User{ID: "dana", Username: "Dana"}) // user from sub and username
		})
	}
}
