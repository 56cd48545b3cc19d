package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// openRooms makes every user a member of every room.
type openRooms struct{ rooms []string }

func (openRooms) IsMember(context.Context, string, string) (bool, error)    { return true, nil }
func (openRooms) Members(context.Context, string) ([]signaling.User, error) { return nil, nil }
func (o openRooms) Rooms(context.Context, string) ([]string, error)         { return o.rooms, nil }

// newServer runs a Node with the meeting service behind /ws on 127.0.0.1, subscribing every
// session to the rooms (there is no chat service to do it) so that room events arrive.
func newServer(t *testing.T, rooms ...string) string {
	node := signaling.NewNode(nil)
	node.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionConnected {
			for _, r := range rooms {
				_ = node.Subscribe(ctx, s.ID(), chat.RoomTopic(r))
			}
		}
	})
	svc, err := meeting.New(node, &meeting.Options{Members: openRooms{rooms}, RoomTopic: chat.RoomTopic})
	if err != nil {
		t.Fatal(err)
	}
	wsh, err := ws.Handler(node, &ws.Options{Authenticator: signaling.DevAuthenticator{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", wsh)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		srv.Close()
		svc.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// output collects what run prints and lets a test wait for a line.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(b)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func (o *output) waitFor(ctx context.Context, s string) bool {
	for {
		o.mu.Lock()
		found, ch := strings.Contains(o.buf.String(), s), o.changed
		o.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func TestBotEchoesAndSendsAudio(t *testing.T) {
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := newServer(t, "R")

	botCtx, stopBot := context.WithCancel(ctx)
	defer stopBot()
	out := newOutput()
	errc := make(chan error, 1)
	go func() {
		errc <- run(botCtx, []string{"-url", base, "-user", "bot", "-room", "R", "-start", "-loopback"}, func(string) string { return "" }, out)
	}()
	is.True(out.waitFor(ctx, "started the meeting in R")) // the bot hosts the meeting

	data := make(chan peer.Message, 8)
	alice, err := peer.Dial(ctx, base+"?user=alice&name=Alice", &peer.Options{
		LoopbackOnly: true,
		OnData:       func(m peer.Message) { data <- m },
	})
	is.NoErr(err) // alice connects
	defer alice.Close()
	_, err = alice.Join(ctx, "R")
	is.NoErr(err)                             // alice joins the bot's meeting
	is.NoErr(alice.WaitConnected(ctx, "bot")) // and reaches the bot
	is.NoErr(alice.SendText("bot", "ping"))
	select {
	case m := <-data:
		is.Equal(m, peer.Message{From: "bot", Data: []byte("ping"), IsString: true}) // the bot echoes
	case <-ctx.Done():
		t.Fatal("no echo from the bot")
	}
	is.NoErr(alice.WaitRTP(ctx, "bot", 1))               // the bot sends audio
	is.True(out.waitFor(ctx, "state alice: connected"))  // the bot prints connection states
	is.True(out.waitFor(ctx, `data from alice: "ping"`)) // and data

	stopBot() // SIGINT
	select {
	case err := <-errc:
		is.NoErr(err) // the bot exits cleanly
	case <-ctx.Done():
		t.Fatal("the bot did not stop")
	}
	is.True(strings.Contains(out.String(), "leaving")) // after leaving the meeting
	is.NoErr(alice.Leave(ctx))
}

func TestBotExitsWhenMeetingEnds(t *testing.T) {
	is := is.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := newServer(t, "R")
	host, err := peer.Dial(ctx, base+"?user=host", &peer.Options{LoopbackOnly: true})
	is.NoErr(err)
	defer host.Close()
	is.NoErr(host.Start(ctx, "R"))

	out := newOutput()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-url", base, "-user", "bot", "-room", "R", "-loopback", "-no-audio"}, func(string) string { return "" }, out)
	}()
	is.NoErr(host.WaitConnected(ctx, "bot")) // the bot joined and connected
	is.NoErr(host.Stop(ctx))                 // the host ends the meeting
	select {
	case err := <-errc:
		is.NoErr(err) // the bot exits
	case <-ctx.Done():
		t.Fatal("the bot did not stop")
	}
	is.True(strings.Contains(out.String(), "the meeting ended"))
}

func TestRunRejectsBadArguments(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	noenv := func(string) string { return "" }
	var out bytes.Buffer
	is.True(run(ctx, []string{"-user", "bot"}, noenv, &out) != nil)                  // -room is required
	is.True(run(ctx, []string{"-room", "R", "-url", "ftp://x"}, noenv, &out) != nil) // not a WebSocket URL
	is.True(run(ctx, []string{"-room", "R", "-codec", "xml"}, noenv, &out) != nil)   // unknown codec
	is.True(run(ctx, []string{"-room", "R", "-no-such-flag"}, noenv, &out) != nil)   // unknown flag
}

// TestHelpExitsZero: -h prints the flags and the command exits 0 (it was asked for); a bad
// argument exits 1 with the error on stderr.
func TestHelpExitsZero(t *testing.T) {
	is := is.New(t)
	var out, stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out)
	is.Equal(exitCode(err, &stderr), 0)                // -h is no failure
	is.True(strings.Contains(out.String(), "-room"))   // the usage was printed
	is.Equal(stderr.String(), "")                      // and no error
	is.Equal(exitCode(errors.New("boom"), &stderr), 1) // an error is
	is.Equal(stderr.String(), "error: boom\n")         // printed
}

func TestEndpointURL(t *testing.T) {
	is := is.New(t)
	u, err := endpointURL("ws://127.0.0.1:8080/ws", "bot", "", "")
	is.NoErr(err)
	q := mustQuery(t, u)
	is.Equal(q.Get("user"), "bot") // dev user
	is.Equal(q.Get("name"), "bot") // name defaults to the id
	u, err = endpointURL("wss://h/ws?codec=json-payload", "bot", "Bot", "jwt")
	is.NoErr(err)
	q = mustQuery(t, u)
	is.Equal(q.Get("token"), "jwt")              // the token wins
	is.Equal(q.Get("user"), "")                  // no dev parameters with a token
	is.Equal(q.Get("codec"), "json-payload")     // existing parameters stay
	is.True(strings.HasPrefix(u, "wss://h/ws?")) // same endpoint
}

func mustQuery(t *testing.T, s string) url.Values {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
