// Command streamchat is a drop-in backend for the original Angular "stream-chat" web client, on
// Huddle: the client's REST API under /api (accounts, rooms, history), its WebSocket at /ws with
// the `json-payload` codec, and, with -web, the client's built files with the deep-link fallback
// its router needs. Users, refresh tokens, rooms and messages live in SQL (a SQLite file by
// default, PostgreSQL with -postgres); -redis shares delivery, presence and meetings between
// nodes like examples/server.
//
//	go run ./examples/streamchat -web ../stream-chat-ui/dist/stream-chat/browser -rooms "General,Random"
//
// Every flag has an environment twin: -jwt-secret is HUDDLE_JWT_SECRET, and so on.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, errHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run parses the configuration, starts the server and blocks until ctx is done, then shuts down
// gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	srv, err := newServer(ctx, cfg, deps{log: newLogger(cfg, os.Stderr)})
	if err != nil {
		return err
	}
	return srv.serve(ctx, stdout)
}
