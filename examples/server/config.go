package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/huddle-go/huddle/examples/internal/cli"
	"github.com/huddle-go/huddle/signaling/ws"
)

// config is the server's configuration, from flags and their HUDDLE_* environment twins.
type config struct {
	addr            string
	jwtSecret       string
	printToken      string // -print-token: print a JWT for this user and exit
	devAuth         bool
	devAuthAnywhere bool
	codec           string
	allowedOrigins  []string
	iceServers      []string
	turnSecret      string
	turn            turnConfig // the embedded TURN server (turn.go)
	logFormat       string
	logLevel        string
	resumeWindow    time.Duration
	maxMessageBytes int
	redisURL        string
	nodeID          string
	dataPath        string // a SQLite file, or "memory"
	dataSet         bool   // -data (or HUDDLE_DATA) was given
	postgresURL     string
	resumeSecret    string

	participantGrace time.Duration
	hostGrace        time.Duration
	hostPolicy       string
	emptyTimeout     time.Duration
	maxParticipants  int
	meetingLinkBase  string

	// Abuse limits and room policy (docs/security.md).
	rooms          string
	trustedProxies int
	maxConnsPerIP  int
	upgradeRate    float64
	upgradeBurst   int
}

var errHelp = flag.ErrHelp

// envName returns the environment twin of a flag: -jwt-secret → HUDDLE_JWT_SECRET.
func envName(flagName string) string { return cli.EnvName(flagName) }

func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	var origins, ice string
	fs := flag.NewFlagSet("huddle-server", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HS256 secret for JWTs (claims sub, username, exp); tokens come as ?token= or Authorization: Bearer")
	fs.StringVar(&c.printToken, "print-token", "", "print a JWT for this user id, signed with -jwt-secret and valid for 24 hours, and exit: paste it into the browser client's sign-in, or pass it as ?token=")
	fs.BoolVar(&c.devAuth, "dev-auth", false, "trust ?user=<id>&name=<name> (development only; loopback -addr only; with -jwt-secret a token is still required)")
	fs.BoolVar(&c.devAuthAnywhere, "dev-auth-anywhere", false, "allow -dev-auth on a non-loopback -addr (anyone can claim any user)")
	fs.StringVar(&c.codec, "codec", "json", "default codec: json ({event,data}) or json-payload ({event,payload}, the original web client's dialect)")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated Origin host patterns allowed to open the WebSocket besides the server's own addresses (the listen address, localhost, 127.0.0.1)")
	fs.StringVar(&ice, "ice-servers", "", "comma-separated STUN/TURN URLs for clients (stun:host:3478,turn:host:3478)")
	fs.StringVar(&c.turnSecret, "turn-secret", "", "TURN REST secret: hand out time-limited TURN credentials in the session event")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.resumeWindow, "resume-window", 60*time.Second, "how long a dropped session can be resumed")
	fs.IntVar(&c.maxMessageBytes, "max-message-bytes", 4096, "largest chat message content, in bytes")
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL (redis://127.0.0.1:6379/0): share chats, presence, meetings and resume between nodes")
	fs.StringVar(&c.dataPath, "data", "huddle.db", "one node's durable store: a SQLite file (created when missing) for chat history, rooms and meetings, or \"memory\" to keep nothing across restarts; not with -redis (use -postgres)")
	fs.StringVar(&c.postgresURL, "postgres", "", "PostgreSQL URL (postgres://user@host:5432/db) for chat history and rooms; with -redis for several nodes")
	fs.StringVar(&c.resumeSecret, "resume-secret", "", "secret that signs resume tokens, the same on every node (default: the one stored in Redis with -redis, else random per process)")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's id among several (default: hostname-pid)")
	fs.DurationVar(&c.participantGrace, "participant-grace", 15*time.Second, "how long a disconnected participant keeps its place in a meeting")
	fs.DurationVar(&c.hostGrace, "host-grace", 30*time.Second, "how long a meeting waits for a disconnected host")
	fs.StringVar(&c.hostPolicy, "host-policy", "end", "what happens when the host does not come back: end, transfer or continue")
	fs.DurationVar(&c.emptyTimeout, "empty-timeout", 60*time.Second, "how long an empty meeting lives")
	fs.IntVar(&c.maxParticipants, "max-participants", 8, "participants per meeting (a mesh grows as n²)")
	fs.StringVar(&c.meetingLinkBase, "meeting-link-base", "/?meeting=", "prefix of meetingLink in invitations; the browser client opens /?meeting=<roomId>")
	c.turn.addFlags(fs)
	fs.StringVar(&c.rooms, "rooms", "open", "room policy: open (anyone joins any room) or members (only users a member adds with add_member, or the app, join)")
	fs.IntVar(&c.trustedProxies, "trusted-proxies", 0, "reverse proxies in front that append to X-Forwarded-For; the per-IP limits count the address the outermost saw (0: ignore X-Forwarded-For)")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", ws.DefaultMaxConnsPerIP, "open WebSocket connections per client IP (IPv6: per /64); more is HTTP 429 (-1: no limit)")
	fs.Float64Var(&c.upgradeRate, "upgrade-rate", ws.DefaultUpgradeRate, "WebSocket upgrades per second per client IP, sustained; more is HTTP 429 (-1: no limit)")
	fs.IntVar(&c.upgradeBurst, "upgrade-burst", ws.DefaultUpgradeBurst, "WebSocket upgrades per client IP at once")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: huddle-server [flags]\n\nEvery flag can also be set by its environment twin, e.g. -jwt-secret by %s.\n\n", envName("jwt-secret"))
		fs.PrintDefaults()
	}
	set, err := cli.Parse(fs, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return c, err
	}
	if err != nil {
		return c, fmt.Errorf("huddle: %w", err)
	}
	c.dataSet = set["data"]
	c.allowedOrigins = splitList(origins)
	c.iceServers = splitList(ice)
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
	if c.printToken != "" && c.jwtSecret == "" {
		return errors.New("huddle: -print-token signs a JWT with -jwt-secret: give it too (go run ./examples/server -jwt-secret \"$SECRET\" -print-token alice)")
	}
	if c.jwtSecret == "" && !c.devAuth {
		return errors.New("huddle: no authentication configured: pass -jwt-secret <secret> (or HUDDLE_JWT_SECRET) to accept HS256 JWTs, or -dev-auth to trust ?user=&name= while developing on this machine")
	}
	if c.jwtSecret != "" && !c.devAuth {
		if err := cli.CheckJWTSecret(c.jwtSecret); err != nil {
			return fmt.Errorf("huddle: %w", err)
		}
	}
	if c.devAuth && !c.devAuthAnywhere && !isLoopback(c.addr) {
		return fmt.Errorf("huddle: -dev-auth lets anyone claim any user, so it only listens on loopback; -addr %q is not loopback (use 127.0.0.1:PORT, or add -dev-auth-anywhere if you really mean it)", c.addr)
	}
	switch c.rooms {
	case "open", "members":
	default:
		return fmt.Errorf("huddle: -rooms %q: want open or members", c.rooms)
	}
	if c.trustedProxies < 0 {
		return fmt.Errorf("huddle: -trusted-proxies %d: want 0 or more", c.trustedProxies)
	}
	switch c.codec {
	case "json", "json-payload":
	default:
		return fmt.Errorf("huddle: -codec %q: want json or json-payload", c.codec)
	}
	switch c.hostPolicy {
	case "end", "transfer", "continue":
	default:
		return fmt.Errorf("huddle: -host-policy %q: want end, transfer or continue", c.hostPolicy)
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("huddle: -log-format %q: want text or json", c.logFormat)
	}
	if c.dataPath == "" {
		return errors.New("huddle: -data is empty: give a SQLite file name, or \"memory\"")
	}
	if c.dataSet && c.dataPath != "memory" && c.redisURL != "" {
		return fmt.Errorf("huddle: -data %q is one node's SQLite file, and -redis shares the server between nodes: use -postgres for durable chat with -redis, or drop -redis", c.dataPath)
	}
	if c.dataSet && c.dataPath != "memory" && c.postgresURL != "" {
		return fmt.Errorf("huddle: -data %q and -postgres both name a chat store: choose one", c.dataPath)
	}
	if c.maxParticipants < 2 {
		return fmt.Errorf("huddle: -max-participants %d: want at least 2", c.maxParticipants)
	}
	return c.turn.validate(c.turnSecret)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
