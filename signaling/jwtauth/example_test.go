package jwtauth_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/signaling/jwtauth"
)

func ExampleNew() {
	secret := []byte("change-me")
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

	// What a login service would issue.
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtauth.Claims{
		Username: "Alice",
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "alice",
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
	}).SignedString(secret)

	auth := jwtauth.New(secret, &jwtauth.Options{Clock: func() time.Time { return now }})
	r := httptest.NewRequest("GET", "/ws?token="+token, nil)
	id, err := auth.Authenticate(r)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(id.User.ID, id.User.Username, id.Expires.UTC().Format(time.RFC3339))

	_, err = auth.Authenticate(httptest.NewRequest("GET", "/ws", nil))
	fmt.Println(err)
	// Output:
	// alice Alice 2026-01-02T16:04:05Z
	// signaling: unauthenticated: jwtauth: no token in ?token= or Authorization: Bearer
}
