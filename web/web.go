// Package web is Huddle's browser client — chat, presence and mesh meetings in one page — as an
// http.Handler a Go application serves from its own mux, beside the WebSocket endpoint.
//
//	mux.Handle("/ws", wsHandler)
//	mux.Handle("/", web.Handler(&web.Options{SignIn: web.SignInToken}))
//
// The page loads its settings from "config.json" next to it, which Handler serves from Options;
// FS gives the files alone, for an application that serves them another way.
//
// The page is plain ES modules: client/ is @huddle-go/client, the typed JavaScript client built
// from the repository's client/ folder (its `npm test` fails when this copy is stale), and app/
// holds the page's modules, one per part (session, rooms, chat, people, meetings, call).
package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// FS returns the browser client's files: index.html, the style sheet, client/ (the protocol
// client, also at huddle-client.js) and app/ (the page's modules).
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil { // the embedded folder always exists
		panic(err)
	}
	return sub
}

// SignIn says how the page signs a user in.
type SignIn string

// The sign-in modes.
const (
	// SignInToken asks for an access token (a JWT the application issued), sent as ?token=.
	SignInToken SignIn = "jwt"
	// SignInDev asks only for a display name, sent as ?name= (signaling.DevAuthenticator).
	SignInDev SignIn = "dev"
	// SignInAny offers both.
	SignInAny SignIn = "any"
)

// Options configure the page. A nil *Options is the zero value: every field's default.
type Options struct {
	// WebSocketURL is where the page connects, absolute (wss://…) or relative to the page
	// ("/ws", the default).
	WebSocketURL string
	// SignIn is how the page signs users in (default SignInAny).
	SignIn SignIn
	// ICETransportPolicy is the page's RTCPeerConnection iceTransportPolicy: "all" (the
	// default) or "relay" (every call through TURN).
	ICETransportPolicy string
}

// Handler serves the browser client's files and its config.json. Mount it at "/" or under a
// prefix with http.StripPrefix; the page finds config.json and its scripts relative to itself.
func Handler(opts *Options) http.Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.WebSocketURL == "" {
		o.WebSocketURL = "/ws"
	}
	if o.SignIn == "" {
		o.SignIn = SignInAny
	}
	if o.ICETransportPolicy == "" {
		o.ICETransportPolicy = "all"
	}
	config, _ := json.Marshal(map[string]string{
		"auth":               string(o.SignIn),
		"wsUrl":              o.WebSocketURL,
		"iceTransportPolicy": o.ICETransportPolicy,
	})
	files := http.FileServerFS(FS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/config.json") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(config)
			return
		}
		files.ServeHTTP(w, r)
	})
}
