package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/huddle-go/huddle/signaling"
)

// Server defaults the tool checks its plan against (signaling.NodeOptions).
const (
	serverRateLimit = 50  // events per second per session
	serverRateBurst = 100 // token-bucket burst per session
)

// config is the tool's configuration, from flags (and $HUDDLE_URL, $HUDDLE_JWT_SECRET).
type config struct {
	url          *url.URL   // the first endpoint, without credentials
	urls         []*url.URL // every endpoint (-url a,b: several nodes of one cluster)
	tokenSecret  string
	clients      int
	rooms        int
	rate         float64
	duration     time.Duration
	warmup       time.Duration
	drain        time.Duration
	contentBytes int
	codec        signaling.Codec
	concurrency  int
	allowRemote  bool
	serverPIDs   []int  // sample these processes' CPU and memory in /proc (none: not)
	idle         bool   // connect and join, then send nothing for -duration
	signal       bool   // pairs: rooms of two in a meeting, sending video-signal to each other
	row          string // also print the results as one markdown table row named this
}

var errHelp = flag.ErrHelp

func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	var c config
	var rawURL, codec, pids string
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&rawURL, "url", or(getenv("HUDDLE_URL"), "ws://127.0.0.1:8080/ws"), "WebSocket endpoint of the server ($HUDDLE_URL); several, comma-separated, spread the clients over the nodes of one cluster")
	fs.StringVar(&c.tokenSecret, "token-secret", getenv("HUDDLE_JWT_SECRET"), "HS256 secret to mint JWTs with ($HUDDLE_JWT_SECRET); default: dev auth ?user=load-<i>&name=...")
	fs.IntVar(&c.clients, "clients", 100, "number of clients")
	fs.IntVar(&c.rooms, "rooms", 10, "number of rooms; clients are spread round-robin and each joins its room")
	fs.Float64Var(&c.rate, "rate", 200, "messages per second across all clients, sent open-loop")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "load before the measurement starts, not counted")
	fs.DurationVar(&c.drain, "drain", 5*time.Second, "longest wait for outstanding deliveries after sending stops")
	fs.IntVar(&c.contentBytes, "content-bytes", 64, "message content size in bytes, the timestamp included")
	fs.StringVar(&codec, "codec", "json", "wire codec: json or json-payload")
	fs.IntVar(&c.concurrency, "connect-concurrency", 50, "dials in flight at once")
	fs.StringVar(&pids, "server-pid", "", "pid of the server (on this machine), or comma-separated pids of its nodes: report their CPU time per 1000 deliveries and their memory, summed, from /proc")
	fs.BoolVar(&c.idle, "idle", false, "connect and join, then send nothing for -duration: measures memory per idle connection (with -server-pid)")
	fs.BoolVar(&c.signal, "signal", false, "signalling pairs: -rooms must be -clients/2; each pair starts a meeting in its room and the clients send video-signal candidates to each other")
	fs.StringVar(&c.row, "row", "", "also print the results as one markdown table row with this name (see scripts/bench-fanout)")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a -url whose host is not loopback (only for servers you are responsible for)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: loadgen [flags]\n\nOpen-loop chat load against a Huddle server; loopback targets only unless -allow-remote.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("loadgen: unexpected arguments %q", fs.Args())
	}
	var ok bool
	if c.codec, ok = signaling.CodecByName(codec); !ok || (codec != "json" && codec != "json-payload") {
		return c, fmt.Errorf("loadgen: -codec %q: want json or json-payload", codec)
	}
	for _, raw := range strings.Split(rawURL, ",") {
		u, err := targetURL(strings.TrimSpace(raw), c.allowRemote)
		if err != nil {
			return c, err
		}
		c.urls = append(c.urls, u)
	}
	c.url = c.urls[0]
	for _, p := range strings.Split(pids, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 {
			return c, fmt.Errorf("loadgen: -server-pid %q: want process ids", pids)
		}
		c.serverPIDs = append(c.serverPIDs, pid)
	}
	switch {
	case c.clients < 1:
		return c, errors.New("loadgen: -clients must be at least 1")
	case c.rooms < 1 || c.rooms > c.clients:
		return c, errors.New("loadgen: -rooms must be between 1 and -clients")
	case !c.idle && (!(c.rate > 0) || c.rate > 1e6):
		return c, errors.New("loadgen: -rate must be above 0 and at most 1e6 messages/s")
	case c.duration <= 0:
		return c, errors.New("loadgen: -duration must be positive")
	case c.warmup < 0 || c.drain < 0:
		return c, errors.New("loadgen: -warmup and -drain must not be negative")
	case c.contentBytes < 1:
		return c, errors.New("loadgen: -content-bytes must be at least 1")
	case c.signal && c.clients != 2*c.rooms:
		return c, errors.New("loadgen: -signal needs -rooms = -clients/2 (pairs)")
	case c.concurrency < 1:
		return c, errors.New("loadgen: -connect-concurrency must be at least 1")
	}
	return c, nil
}

// targetURL parses the endpoint and, unless allowRemote, refuses a host that is not loopback.
func targetURL(raw string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("loadgen: -url: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("loadgen: -url: want a ws:// or wss:// URL, got %q", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("loadgen: -url %q has no host", raw)
	}
	if !allowRemote && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("loadgen: refusing to load %s: not a loopback address (127.0.0.0/8, ::1, localhost); pass -allow-remote for a server you are responsible for", u.Host)
	}
	return u, nil
}

// isLoopback reports whether host is a loopback IP literal or the name localhost, which
// resolves to loopback by definition (RFC 6761). Other names are not resolved: what a name
// points to can change between this check and the dial.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// perClientRate is the message rate each client sends.
func (c config) perClientRate() float64 { return c.rate / float64(c.clients) }

// warnings lists what in the plan will likely distort the measurement.
func (c config) warnings() []string {
	var w []string
	if r := c.perClientRate(); r > serverRateLimit {
		// The join_room took one token; the rest of the burst lasts burst/(r-limit) seconds.
		spent := time.Duration(float64(serverRateBurst-1) / (r - serverRateLimit) * float64(time.Second))
		w = append(w, fmt.Sprintf("-rate %g over -clients %d is %.1f messages/s per client, above the server's default per-session limit of %d events/s (burst %d): expect rate_limited errors once the burst is spent (after about %v) and a delivery ratio below 1",
			c.rate, c.clients, r, serverRateLimit, serverRateBurst, spent.Round(10*time.Millisecond)))
	}
	for _, u := range c.urls {
		if c.allowRemote && !isLoopback(u.Hostname()) {
			w = append(w, fmt.Sprintf("loading a remote server (%s): make sure it is yours to load", u.Host))
		}
	}
	return w
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
