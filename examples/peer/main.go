// Command peer joins a Huddle meeting as a headless WebRTC participant (a bot): it connects to
// every other participant by the protocol's glare-free rule, echoes every data channel message
// back to its sender, sends Opus audio (silence), and prints what it sees: server events,
// connection states and data.
//
//	go run ./examples/peer -url ws://127.0.0.1:8080/ws -user bot -room R          # join
//	go run ./examples/peer -url ws://127.0.0.1:8080/ws -user bot -room R -start   # host
//
// -url is the WebSocket endpoint; the command adds the credentials: `?token=` with -token (or
// $HUDDLE_TOKEN), else the dev authenticator's `?user=&name=`. SIGINT or SIGTERM leaves the
// meeting and exits; so does the end of the meeting.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/huddle-go/huddle/meeting/peer"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Getenv, os.Stdout), os.Stderr))
}

// exitCode is the command's exit status for run's error, which it prints: 0 for none and for
// -h (the usage was asked for and printed), 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "error:", err)
	return 1
}

// run is the whole command: it parses args, joins (or starts) the meeting and echoes until ctx
// ends or the meeting does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var (
		base     = fs.String("url", or(getenv("HUDDLE_URL"), "ws://127.0.0.1:8080/ws"), "WebSocket endpoint of the server ($HUDDLE_URL)")
		user     = fs.String("user", or(getenv("HUDDLE_USER"), "bot"), "user id for the dev authenticator ($HUDDLE_USER)")
		name     = fs.String("name", "", "display name for the dev authenticator (default: the user id)")
		token    = fs.String("token", getenv("HUDDLE_TOKEN"), "JWT to authenticate with instead of the dev parameters ($HUDDLE_TOKEN)")
		room     = fs.String("room", "", "room of the meeting (required)")
		start    = fs.Bool("start", false, "start the meeting as its host instead of joining it")
		joinRoom = fs.Bool("join-room", true, "send join_room first, so that room events (meeting_ended, invitations, messages) arrive; harmless without a chat service")
		codec    = fs.String("codec", "json", "wire codec: json or json-payload")
		loopback = fs.Bool("loopback", false, "ICE over 127.0.0.1 only, no STUN/TURN (bot and browser on the server's host)")
		noAudio  = fs.Bool("no-audio", false, "do not send audio")
		verbose  = fs.Bool("v", false, "debug logs on stderr")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *room == "" {
		return errors.New("-room is required")
	}
	c, ok := signaling.CodecByName(*codec)
	if !ok {
		return fmt.Errorf("unknown codec %q", *codec)
	}
	endpoint, err := endpointURL(*base, *user, *name, *token)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	out := &printer{w: stdout}
	ended := make(chan struct{})
	var endOnce sync.Once
	var bot *peer.Peer
	var botMu sync.Mutex
	current := func() *peer.Peer {
		botMu.Lock()
		defer botMu.Unlock()
		return bot
	}
	p, err := peer.Dial(ctx, endpoint, &peer.Options{
		Codec:        c,
		LoopbackOnly: *loopback,
		NoAudio:      *noAudio,
		Logger:       logger,
		JoinRoom:     *joinRoom,
		OnEvent: func(e ws.Event) {
			if e.Event == "video-signal" { // SDP is long: say who sent what
				var s struct{ Type, SenderID string }
				_ = json.Unmarshal(e.Data, &s)
				out.printf("event video-signal %s from %s", s.Type, s.SenderID)
			} else {
				out.printf("event %s %s", e.Event, e.Data)
			}
			if e.Event == "meeting_ended" {
				endOnce.Do(func() { close(ended) })
			}
		},
		OnStateChange: func(s peer.RemoteState) {
			out.printf("state %s: %s (ice %s, data open %t, offerer %t, connection #%d)", s.UserID, s.ConnectionState, s.ICEState, s.DataOpen, s.Offerer, s.Generation)
		},
		OnData: func(m peer.Message) {
			out.printf("data from %s: %q", m.From, m.Data)
			b := current()
			if b == nil {
				return
			}
			var err error
			if m.IsString {
				err = b.SendText(m.From, string(m.Data))
			} else {
				err = b.SendData(m.From, m.Data)
			}
			if err != nil {
				out.printf("echo to %s failed: %v", m.From, err)
			}
		},
	})
	if err != nil {
		return err
	}
	botMu.Lock()
	bot = p
	botMu.Unlock()
	defer p.Close()
	me := p.User()
	out.printf("connected as %s (%s), session %s", me.ID, me.Username, p.Session().SessionID)

	if *start {
		if err := p.Start(ctx, *room); err != nil {
			return fmt.Errorf("start meeting in %s: %w", *room, err)
		}
		out.printf("started the meeting in %s", *room)
	} else {
		participants, err := p.Join(ctx, *room)
		if err != nil {
			return fmt.Errorf("join meeting in %s: %w", *room, err)
		}
		out.printf("joined the meeting in %s with %d participants", *room, len(participants))
	}

	select {
	case <-ctx.Done():
		out.printf("leaving")
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Leave(lctx); err != nil && !errors.Is(err, peer.ErrNotInMeeting) {
			return fmt.Errorf("leave: %w", err)
		}
		return nil
	case <-ended:
		out.printf("the meeting ended")
		return nil
	case <-p.Done():
		return p.Err()
	}
}

// endpointURL adds the credentials to the endpoint: token, or the dev user and name.
func endpointURL(base, user, name, token string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("-url: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return "", fmt.Errorf("-url: want a ws:// or wss:// URL, got %q", base)
	}
	q := u.Query()
	if token != "" {
		q.Set("token", token)
	} else {
		if user == "" {
			return "", errors.New("-user or -token is required")
		}
		q.Set("user", user)
		q.Set("name", or(name, user))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// printer writes whole lines from concurrent callbacks.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}
