package main

import (
	"fmt"
	"io"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/signaling/jwtauth"
)

// tokenTTL is how long a -print-token token is valid.
const tokenTTL = 24 * time.Hour

// printToken writes a JWT for user (as id and username), signed with cfg's -jwt-secret, the way
// an application's sign-in would issue it: for trying the server locally.
func printToken(cfg config, now time.Time, w io.Writer) error {
	claims := jwtauth.Claims{
		Username: cfg.printToken,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   cfg.printToken,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(tokenTTL)),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(cfg.jwtSecret))
	if err != nil {
		return fmt.Errorf("huddle: -print-token: %w", err)
	}
	_, err = fmt.Fprintln(w, tok)
	return err
}
