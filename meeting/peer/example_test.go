package peer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/pion/webrtc/v4"
)

// A participant joins the meeting of a room, waits until it is connected to everyone already
// there, greets them over the data channel and leaves. It needs a running server (for example
// `go run ./examples/server -dev-auth`), so it is compiled but not run.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := peer.Dial(ctx, "ws://127.0.0.1:8080/ws?user=bot&name=Bot", &peer.Options{
		OnData: func(m peer.Message) { fmt.Printf("%s says %q\n", m.From, m.Data) },
		OnStateChange: func(s peer.RemoteState) {
			fmt.Printf("%s: %s\n", s.UserID, s.ConnectionState)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	participants, err := p.Join(ctx, "room-1") // or p.Start(ctx, "room-1") to host it
	if err != nil {
		log.Fatal(err)
	}
	for _, u := range participants {
		if u.ID == p.User().ID {
			continue
		}
		if err := p.WaitConnected(ctx, u.ID); err != nil {
			log.Fatal(err)
		}
		if err := p.SendText(u.ID, "hello "+u.Username); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Leave(ctx); err != nil {
		log.Fatal(err)
	}
}

// An echo bot sends every data channel message back to its sender. OnData runs on Pion's
// goroutines and may call SendData. With LoopbackOnly and short ICE timeouts the same setup
// serves tests that run the server in-process.
func ExampleOptions_echo() {
	var bot *peer.Peer
	opts := &peer.Options{
		OnData: func(m peer.Message) {
			if m.IsString {
				_ = bot.SendText(m.From, string(m.Data))
			} else {
				_ = bot.SendData(m.From, m.Data)
			}
		},
		LoopbackOnly:           true,
		ICEDisconnectedTimeout: 3 * time.Second,
		ICEFailedTimeout:       5 * time.Second,
		ICEKeepaliveInterval:   500 * time.Millisecond,
	}
	ctx := context.Background()
	bot, err := peer.Dial(ctx, "ws://127.0.0.1:8080/ws?user=echo", opts)
	if err != nil {
		log.Fatal(err)
	}
	defer bot.Close()
	if err := bot.Start(ctx, "room-1"); err != nil {
		log.Fatal(err)
	}
	<-ctx.Done()
}

// STUN and TURN servers can be given explicitly; by default a Peer uses the `iceServers` of its
// session.
func ExampleOptions_iceServers() {
	_ = &peer.Options{
		ICEServers: []webrtc.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}},
	}
}
