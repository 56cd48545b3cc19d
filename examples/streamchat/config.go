package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/huddle-go/huddle/examples/internal/cli"
)

// config is the server's configuration, from flags and their HUDDLE_* environment twins.
type config struct {
	addr           string
	data           string // SQLite file
	postgres       string // PostgreSQL URL; wins over data
	redisURL       string
	nodeID         string
	jwtSecret      string
	accessTTL      time.Duration
	refreshTTL     time.Duration
	web            string
	tlsCert        string
	tlsKey         string
	rooms          []string
	allowedOrigins []string
	iceServers     []string
	resumeWindow   time.Duration
	logFormat      string
	logLevel       string

	maxMessageBytes  int
	meetingLinkBase  string
	participantGrace time.Duration
	hostGrace        time.Duration
	hostPolicy       string
	emptyTimeout     time.Duration
	maxParticipants  int

	// bcryptCost is not a flag: tests lower it to bcrypt.MinCost.
	bcryptCost int
}

var errHelp = flag.ErrHelp

// envName returns the environment twin of a flag: -jwt-secret → HUDDLE_JWT_SECRET.
func envName(flagName string) string { return cli.EnvName(flagName) }

func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	var rooms, origins, ice string
	fs := flag.NewFlagSet("streamchat", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:3000", "address to listen on (the original backend's port is 3000)")
	fs.StringVar(&c.data, "data", "streamchat.db", "SQLite file for users, rooms and messages")
	fs.StringVar(&c.postgres, "postgres", "", "PostgreSQL URL (postgres://user@host:5432/db); replaces -data")
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL (redis://127.0.0.1:6379/0): share delivery, presence and meetings between nodes")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's id among several (default: hostname-pid)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HS256 secret of the access tokens (default: generated once and kept in the database)")
	fs.DurationVar(&c.accessTTL, "access-ttl", 12*time.Hour, "access token lifetime: the app never refreshes, so this is how long a sign-in lasts")
	fs.DurationVar(&c.refreshTTL, "refresh-ttl", 30*24*time.Hour, "refresh token lifetime")
	fs.StringVar(&c.web, "web", "", "directory of the app's built files, served at / with the Angular deep-link fallback")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM): serve HTTPS and WSS, which browsers on other machines need for the camera")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM), with -tls-cert")
	fs.StringVar(&rooms, "rooms", "", `comma-separated rooms to create when absent ("General,Random")`)
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated Origin host patterns allowed to open the WebSocket (default: same host)")
	fs.StringVar(&ice, "ice-servers", "", "comma-separated STUN/TURN URLs for room_info_response.iceServers")
	fs.DurationVar(&c.resumeWindow, "resume-window", 0, "how long a dropped session can be resumed; 0: off (the app never resumes)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.IntVar(&c.maxMessageBytes, "max-message-bytes", 4096, "largest chat message content, in bytes")
	fs.StringVar(&c.meetingLinkBase, "meeting-link-base", "/stream/meeting/", "prefix of meetingLink (the app's meeting route)")
	fs.DurationVar(&c.participantGrace, "participant-grace", 15*time.Second, "how long a disconnected participant keeps its place in a meeting")
	fs.DurationVar(&c.hostGrace, "host-grace", 30*time.Second, "how long a meeting waits for a disconnected host")
	fs.StringVar(&c.hostPolicy, "host-policy", "end", "when the host does not come back: end, transfer or continue")
	fs.DurationVar(&c.emptyTimeout, "empty-timeout", 60*time.Second, "how long an empty meeting lives")
	fs.IntVar(&c.maxParticipants, "max-participants", 8, "participants per meeting (a mesh grows as n²)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: streamchat [flags]\n\nEvery flag can also be set by its environment twin, e.g. -jwt-secret by %s.\n\n", envName("jwt-secret"))
		fs.PrintDefaults()
	}
	if _, err := cli.Parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("streamchat: %w", err)
	}
	c.rooms, c.allowedOrigins, c.iceServers = splitList(rooms), splitList(origins), splitList(ice)
	return c, c.validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c config) validate() error {
	switch c.hostPolicy {
	case "end", "transfer", "continue":
	default:
		return fmt.Errorf("streamchat: -host-policy %q: want end, transfer or continue", c.hostPolicy)
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("streamchat: -log-format %q: want text or json", c.logFormat)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("streamchat: -log-level %q: want debug, info, warn or error", c.logLevel)
	}
	if c.accessTTL < time.Minute || c.refreshTTL < c.accessTTL {
		return errors.New("streamchat: -access-ttl must be at least 1m and -refresh-ttl at least -access-ttl")
	}
	if c.maxParticipants < 2 {
		return fmt.Errorf("streamchat: -max-participants %d: want at least 2", c.maxParticipants)
	}
	if c.resumeWindow < 0 {
		return fmt.Errorf("streamchat: -resume-window %v: want 0 (off) or more", c.resumeWindow)
	}
	for _, r := range c.rooms {
		if err := checkRoomName(r); err != nil {
			return fmt.Errorf("streamchat: -rooms: %w", err)
		}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("streamchat: -tls-cert and -tls-key go together")
	}
	if c.jwtSecret != "" {
		if err := cli.CheckJWTSecret(c.jwtSecret); err != nil {
			return fmt.Errorf("streamchat: %w (or leave it out: a secret is generated and kept in the database)", err)
		}
	}
	if c.web != "" {
		if st, err := os.Stat(c.web); err != nil || !st.IsDir() {
			return fmt.Errorf("streamchat: -web %q is not a directory (build the app first: see docs/streamchat.md)", c.web)
		}
		if !hasIndex(c.web) {
			return fmt.Errorf("streamchat: -web %q has no index.html (nor index.csr.html): name the folder of the app's build that holds it, such as dist/stream-chat/browser (see docs/streamchat.md)", c.web)
		}
	}
	return nil
}

// hasIndex reports whether dir holds the app's entry page: index.html, or index.csr.html for a
// build with server-side rendering (web.go serves either).
func hasIndex(dir string) bool {
	for _, name := range []string{"index.html", "index.csr.html"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.logLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
