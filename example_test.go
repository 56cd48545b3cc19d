package huddle_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/huddle-go/huddle"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/huddle-go/huddle/web"
)

// Example is the README's quick start, run by go test: chat, presence and meetings behind one
// WebSocket endpoint, the browser client beside it, and a Go client that joins a room and
// sends a message.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Chat, presence and meetings over one Node, linked to each other, on memory stores
	// (Options take Redis and SQL stores for several nodes and restarts).
	srv, err := huddle.New(ctx, &huddle.Options{
		// Your own users: any signaling.Authenticator. jwtauth.New(secret, nil) reads HS256
		// JWTs (claims sub, username, exp); this one trusts ?user= and is for development only.
		Authenticator: signaling.DevAuthenticator{},
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/ws", srv.Handler())                                  // the WebSocket endpoint
	mux.Handle("/", web.Handler(&web.Options{SignIn: web.SignInDev})) // the browser client
	ln, err := net.Listen("tcp", "127.0.0.1:0")                       // your app's address, e.g. 127.0.0.1:8080
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	addr := ln.Addr().String()

	// Open http://<addr>/ in two browser windows to chat and call. Here, a Go client instead:
	page, err := http.Get("http://" + addr + "/")
	if err != nil {
		log.Fatal(err)
	}
	_ = page.Body.Close()
	fmt.Println("browser client:", page.Status)
	c, err := ws.Connect(ctx, "ws://"+addr+"/ws?user=alice&name=Alice", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected as", c.Session().User.Username)
	_ = c.Send(ctx, "join_room", map[string]string{"roomId": "lobby"})
	_ = c.Send(ctx, "message", map[string]string{"roomId": "lobby", "content": "hello"})
	for e := range c.Events() {
		if e.Event == "room_joined" || e.Event == "message" {
			fmt.Println(e.Event)
		}
		if e.Event == "message" {
			break
		}
	}
	_ = c.Close()

	// Stop the HTTP server first (it does not wait for WebSockets), then Huddle: sessions are
	// closed with 1012 so that clients resume elsewhere, then the services stop.
	_ = hs.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
	// Output:
	// browser client: 200 OK
	// connected as Alice
	// room_joined
	// message
}
