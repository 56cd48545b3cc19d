// Command server is Huddle's reference server: chat, presence and WebRTC mesh meetings over one
// WebSocket, with a small browser client. It runs on memory stores with one command:
//
//	go run ./examples/server -dev-auth
//
// and on Redis, for several nodes behind a load balancer, with -redis redis://127.0.0.1:6379/0.
// Every flag has an environment twin: -jwt-secret is HUDDLE_JWT_SECRET, and so on. With
// -jwt-secret, -print-token alice prints a token for the user alice and exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
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
// gracefully: it stops accepting, closes every session with 1012 so clients reconnect and resume,
// and waits for them (up to 10 s).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	if cfg.printToken != "" {
		return printToken(cfg, time.Now(), stdout)
	}
	srv, err := newServer(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	return srv.serve(ctx)
}
