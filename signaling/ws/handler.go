package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/huddle-go/huddle/signaling"
)

// Server runs one session over a connection until it ends. *signaling.Node implements it.
type Server interface {
	// Serve runs a session over c for u; it blocks until the session's connection ends and
	// always closes c.
	Serve(ctx context.Context, c signaling.Conn, u signaling.User, opts *signaling.SessionOptions) error
	// CheckResume reports whether u may present a resume token; a failure is answered with 401.
	CheckResume(u signaling.User, token string) error
}

var _ Server = (*signaling.Node)(nil)

// Options configures Handler. The zero value of each field means its default, except
// Authenticator, which is required.
type Options struct {
	// Authenticator establishes the user before the upgrade; a failure is an HTTP 401 with a
	// JSON body and no upgrade. Required: Handler returns an error without one. Use
	// signaling.DevAuthenticator{} only for development.
	Authenticator signaling.Authenticator
	// OriginPatterns are the host patterns of the other origins allowed to connect, with the
	// semantics of websocket.AcceptOptions.OriginPatterns (path.Match on the Origin's host, or
	// on "scheme://host" when the pattern has a scheme). The server's own origins are always
	// allowed: the address the connection arrived on (the listen address) and localhost,
	// 127.0.0.1 and [::1] on its port. The request's Host header is not trusted, since a
	// DNS-rebinding page sends its own. A request without Origin (not a browser) is not
	// checked. Default: none, so only the server's own addresses; a server reached by a domain
	// name, or through a reverse proxy, lists that name here. Any other Origin gets HTTP 403.
	OriginPatterns []string
	// MaxConnsPerIP bounds the open WebSocket connections of one client IP (an IPv6 /64); one
	// more is HTTP 429 before the upgrade. Default: DefaultMaxConnsPerIP (100); negative: no
	// limit.
	MaxConnsPerIP int
	// UpgradeRate is the sustained rate, per second, of upgrade requests one client IP may
	// make, and UpgradeBurst the requests it may make at once; a request over it is HTTP 429
	// with Retry-After, before authentication. Defaults: DefaultUpgradeRate (10) and
	// DefaultUpgradeBurst (30); a negative UpgradeRate: no limit.
	UpgradeRate  float64
	UpgradeBurst int
	// TrustedProxies is the number of reverse proxies in front of the server that each append
	// the address they saw to X-Forwarded-For. The per-IP limits then count a request under
	// the address the outermost proxy saw (the TrustedProxies-th entry from the right; a
	// request with fewer entries, or an unparsable one, counts under its remote address). Default:
	// 0, X-Forwarded-For is ignored and the limits count the connection's remote address. Set
	// it only when clients cannot reach the server except through those proxies: a client
	// that can writes its own X-Forwarded-For.
	TrustedProxies int
	// MaxIdentityBytes bounds the user id and the username an Authenticator returns (both
	// travel in every payload that names the user); a longer one, or one that is not valid
	// UTF-8, is HTTP 401. Default: DefaultMaxIdentityBytes (128); negative: no limit.
	MaxIdentityBytes int
	// Refused, when set, is called for each request refused before the upgrade, with the
	// reason; the reference server counts them in a metric. It must not block.
	Refused func(r *http.Request, reason Refusal)
	// ReadLimit is the largest client frame in bytes; a bigger one closes the connection with
	// 1009. Default: the server's Config().Limits.MaxFrameBytes when it has that method (a
	// *signaling.Node has), else 64 KiB. Negative: no limit.
	ReadLimit int64
	// PingInterval is how often the server pings each connection. Default: 25 s. Negative: no
	// pings.
	PingInterval time.Duration
	// PongTimeout is how long a pong may take; a connection whose pong is later is dropped
	// without a close frame, so that its session waits for a resume. Default: 10 s.
	PongTimeout time.Duration
	// DefaultCodec is the codec of a connection that names none, by subprotocol or ?codec=.
	// Default: signaling.JSON.
	DefaultCodec signaling.Codec
	// Logger receives the handler's logs; per-connection events are logged at Debug. Default:
	// silent.
	Logger *slog.Logger
}

// DefaultReadLimit is the read limit when neither Options.ReadLimit nor the server sets one.
const DefaultReadLimit = 64 << 10

// DefaultMaxIdentityBytes is the default of Options.MaxIdentityBytes.
const DefaultMaxIdentityBytes = 128

// Refusal is why Handler refused a request before the upgrade (Options.Refused).
type Refusal string

// The reasons of Options.Refused.
const (
	RefusedAuth        Refusal = "unauthenticated" // 401 or 503 from the Authenticator
	RefusedIdentity    Refusal = "identity"        // 401: user id or username too long
	RefusedOrigin      Refusal = "origin"          // 403
	RefusedConnsPerIP  Refusal = "conns_per_ip"    // 429
	RefusedUpgradeRate Refusal = "upgrade_rate"    // 429
)

func (opts *Options) withDefaults(srv Server) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Authenticator == nil {
		return o, errors.New("ws: Handler needs Options.Authenticator (use signaling.DevAuthenticator{} for development)")
	}
	o.OriginPatterns = append([]string(nil), o.OriginPatterns...)
	for _, p := range o.OriginPatterns {
		if _, err := path.Match(p, ""); err != nil {
			return o, fmt.Errorf("ws: bad origin pattern %q: %w", p, err)
		}
	}
	if o.ReadLimit == 0 {
		o.ReadLimit = DefaultReadLimit
		if c, ok := srv.(interface{ Config() signaling.Config }); ok && c.Config().Limits.MaxFrameBytes > 0 {
			o.ReadLimit = int64(c.Config().Limits.MaxFrameBytes)
		}
	}
	if o.ReadLimit < 0 {
		o.ReadLimit = -1
	}
	if o.PingInterval == 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = 10 * time.Second
	}
	if o.DefaultCodec == nil {
		o.DefaultCodec = signaling.JSON
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if o.UpgradeRate == 0 {
		o.UpgradeRate = DefaultUpgradeRate
	}
	if o.UpgradeBurst <= 0 {
		o.UpgradeBurst = DefaultUpgradeBurst
	}
	if o.MaxIdentityBytes == 0 {
		o.MaxIdentityBytes = DefaultMaxIdentityBytes
	}
	if o.Refused == nil {
		o.Refused = func(*http.Request, Refusal) {}
	}
	return o, nil
}

// Handler returns the WebSocket endpoint of srv (PROTOCOL.md §1). For each request it, in order:
//   - applies the per-IP limits: over the upgrade rate or the open connections of the client's
//     IP is 429 {"error":"rate_limited"};
//   - authenticates with opts.Authenticator: failure is 401 {"error":"unauthorized"}, and so
//     is an identity longer than MaxIdentityBytes;
//   - validates `lastSeq` (400 {"error":"bad_request"} unless a non-negative integer) and
//     checks a `resume` token with srv.CheckResume (401);
//   - picks the codec: the first offered subprotocol "huddle.v1.<name>" of a registered codec,
//     else `?codec=<name>`, else opts.DefaultCodec (an offered huddle subprotocol or a ?codec=
//     naming no registered codec is 400);
//   - checks Origin against the server's own addresses and OriginPatterns (403), then
//     upgrades, echoing the chosen subprotocol;
//   - runs srv.Serve until the session's connection ends, pinging the client meanwhile, on a
//     goroutine of its own: ServeHTTP returns once the connection is upgraded.
//
// The session's context keeps r.Context()'s values but not its cancellation (the request's
// context must not be used after the hijack): a session ends when its connection does, or when
// srv shuts down (signaling.Node.Shutdown closes it with 1012). http.Server.Shutdown does not
// wait for hijacked connections; shut the Node down first.
//
// Handler returns an error, and no handler, when srv is nil, opts has no Authenticator or an
// origin pattern is malformed.
func Handler(srv Server, opts *Options) (http.Handler, error) {
	if srv == nil {
		return nil, errors.New("ws: Handler needs a Server")
	}
	o, err := opts.withDefaults(srv)
	if err != nil {
		return nil, err
	}
	return &handler{srv: srv, opts: o, limits: newIPLimiter(o.MaxConnsPerIP, o.UpgradeRate, o.UpgradeBurst)}, nil
}

type handler struct {
	srv    Server
	opts   Options
	limits *ipLimiter
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.opts.Logger
	release, handedOff := func() {}, false
	if ip, ok := clientIP(r, h.opts.TrustedProxies); ok {
		why, retry := h.limits.allow(ip)
		if why != "" {
			log.Debug("ws: per-IP limit", "ip", ip, "remote", r.RemoteAddr, "reason", why)
			h.opts.Refused(r, why)
			msg := "too many connections from your address"
			if why == RefusedUpgradeRate {
				msg = "too many connection attempts from your address; retry later"
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(retry.Round(time.Second)/time.Second))))
			}
			writeError(w, http.StatusTooManyRequests, signaling.CodeRateLimited, msg)
			return
		}
		// Released when the session ends, or now if it never starts.
		defer func() {
			if !handedOff {
				h.limits.release(ip)
			}
		}()
		release = func() { h.limits.release(ip) }
	}
	id, err := h.opts.Authenticator.Authenticate(r)
	if err == nil && id.User.ID == "" {
		err = errors.New("ws: the authenticator returned no user id")
	}
	if err != nil {
		h.opts.Refused(r, RefusedAuth)
		h.refuseAuth(w, r, err)
		return
	}
	if msg := h.checkIdentity(id.User); msg != "" {
		log.Debug("ws: identity refused", "remote", r.RemoteAddr, "why", msg)
		h.opts.Refused(r, RefusedIdentity)
		writeError(w, http.StatusUnauthorized, signaling.CodeUnauthorized, msg)
		return
	}
	so := signaling.SessionOptions{Expires: id.Expires}
	q := r.URL.Query()
	if q.Has("lastSeq") {
		n, err := strconv.ParseUint(q.Get("lastSeq"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, signaling.CodeBadRequest, "lastSeq must be a non-negative integer")
			return
		}
		so.LastSeq = n
	}
	if tok := q.Get("resume"); tok != "" {
		if err := h.srv.CheckResume(id.User, tok); err != nil {
			log.Debug("ws: resume token refused", "user", id.User.ID, "remote", r.RemoteAddr, "err", err)
			writeError(w, http.StatusUnauthorized, signaling.CodeUnauthorized, "resume token not valid for this user")
			return
		}
		so.ResumeToken = tok
	}
	codec, proto, msg := h.negotiate(r)
	if codec == nil {
		writeError(w, http.StatusBadRequest, signaling.CodeBadRequest, msg)
		return
	}
	so.Codec = codec

	if !checkOrigin(r, h.opts.OriginPatterns) {
		log.Debug("ws: origin refused", "user", id.User.ID, "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "host", r.Host)
		h.opts.Refused(r, RefusedOrigin)
		writeError(w, http.StatusForbidden, signaling.CodeForbidden, "origin not allowed")
		return
	}
	bw := batching(w) // the hijacked socket batches the session writer's frames (batch.go)
	wc, err := websocket.Accept(bw, r, &websocket.AcceptOptions{
		Subprotocols: proto,
		// checkOrigin has decided, without trusting the Host header as Accept would.
		InsecureSkipVerify: true,
	})
	if err != nil {
		// Accept has answered (426 for a plain request, ...).
		log.Debug("ws: upgrade refused", "user", id.User.ID, "remote", r.RemoteAddr, "err", err)
		return
	}
	wc.SetReadLimit(h.opts.ReadLimit)
	c := newConn(wc, log)
	c.batch = bw.conn
	if h.opts.PingInterval > 0 {
		c.startPing(h.opts.PingInterval, h.opts.PongTimeout)
	}
	log.Debug("ws: connected", "user", id.User.ID, "remote", r.RemoteAddr, "codec", codec.Name(), "resume", so.ResumeToken != "")

	// The session runs on a goroutine of its own and this one returns: the HTTP server's
	// goroutine (its stack grown by the handshake), the request and the response are then
	// released, instead of being held for as long as the connection lives.
	handedOff = true
	go serve(context.WithoutCancel(r.Context()), h.srv, c, id.User, &so, r.RemoteAddr, log, release)
}

// serve runs a session over c until it ends, then closes c and calls release.
func serve(ctx context.Context, srv Server, c *conn, u signaling.User, so *signaling.SessionOptions, remote string, log *slog.Logger, release func()) {
	defer release()
	err := srv.Serve(ctx, c, u, so)
	// Serve always closes c; this only makes sure, and stops the ping loop.
	_ = c.Close(signaling.StatusNormalClosure, "")
	c.wait()
	c.readDone()
	log.Debug("ws: connection ended", "user", u.ID, "remote", remote, "err", err)
}

// checkIdentity returns why an authenticated user is refused, or "".
func (h *handler) checkIdentity(u signaling.User) string {
	lim := h.opts.MaxIdentityBytes
	switch {
	case lim > 0 && len(u.ID) > lim:
		return fmt.Sprintf("user id longer than %d bytes", lim)
	case lim > 0 && len(u.Username) > lim:
		return fmt.Sprintf("username longer than %d bytes", lim)
	case !utf8.ValidString(u.ID) || !utf8.ValidString(u.Username):
		return "user id or username not valid UTF-8"
	}
	return ""
}

// refuseAuth answers a failed authentication: 401 with the authenticator's reason for
// credentials problems (errors wrapping signaling.ErrUnauthenticated), 503 for an unavailable
// backend, and 401 with a generic message (the detail logged) for anything else.
func (h *handler) refuseAuth(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, signaling.ErrUnauthenticated):
		h.opts.Logger.Debug("ws: unauthenticated", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="huddle"`)
		writeError(w, http.StatusUnauthorized, signaling.CodeUnauthorized, authMessage(err))
	case errors.Is(err, signaling.ErrUnavailable):
		h.opts.Logger.Warn("ws: authenticator unavailable", "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusServiceUnavailable, signaling.CodeUnavailable, "authentication is unavailable; try again")
	default:
		h.opts.Logger.Warn("ws: authentication failed", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="huddle"`)
		writeError(w, http.StatusUnauthorized, signaling.CodeUnauthorized, "authentication failed")
	}
}

// authMessage is the client-facing text of an authentication error: its message without the
// redundant "signaling: unauthenticated" part, on one line.
func authMessage(err error) string {
	msg := err.Error()
	base := signaling.ErrUnauthenticated.Error()
	msg = strings.TrimPrefix(msg, base)
	msg = strings.TrimLeft(msg, ": \n")
	msg = strings.ReplaceAll(msg, "\n", ": ")
	if msg == "" {
		msg = "credentials required"
	}
	return msg
}

// negotiate picks the session codec and the subprotocol to echo. A nil codec means a 400 with
// the returned message.
func (h *handler) negotiate(r *http.Request) (signaling.Codec, []string, string) {
	offeredHuddle := false
	for _, p := range headerTokens(r.Header, "Sec-WebSocket-Protocol") {
		if len(p) <= len(signaling.SubprotocolPrefix) || !strings.EqualFold(p[:len(signaling.SubprotocolPrefix)], signaling.SubprotocolPrefix) {
			continue
		}
		offeredHuddle = true
		if c, ok := signaling.CodecByName(p[len(signaling.SubprotocolPrefix):]); ok {
			return c, []string{p}, ""
		}
	}
	if offeredHuddle {
		return nil, nil, "none of the offered " + signaling.SubprotocolPrefix + "* subprotocols is supported"
	}
	if name := r.URL.Query().Get("codec"); name != "" {
		c, ok := signaling.CodecByName(name)
		if !ok {
			return nil, nil, "unknown codec " + strconv.Quote(name)
		}
		return c, nil, ""
	}
	return h.opts.DefaultCodec, nil, ""
}

func headerTokens(h http.Header, key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// errorBody is the JSON body of a refused handshake.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: code, Message: msg})
}
