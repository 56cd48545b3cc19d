// Package jwtauth is a signaling.Authenticator for JSON Web Tokens signed with HS256, the
// scheme of PROTOCOL.md §1 and of the original web client.
//
// A token is read from the `token` query parameter (what a browser can send on a WebSocket
// URL) or from an `Authorization: Bearer` header. It must be signed with HS256 and the shared
// secret (every other algorithm, `none` included, is refused), carry an `exp` claim that has not
// passed, and name the user in `sub`; the display name comes from `username` (default: `sub`).
//
//	auth := jwtauth.New(secret, nil)
//	h, err := ws.Handler(node, &ws.Options{Authenticator: auth})
//
// An *Authenticator is safe for concurrent use.
package jwtauth
