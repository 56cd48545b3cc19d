package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/coder/websocket"
	"github.com/huddle-go/huddle/signaling"
)

// DialOptions configures Dial. The zero value of each field means its default.
type DialOptions struct {
	// Codec is asked for as the subprotocol "huddle.v1.<name>"; frames read from the Conn are
	// in its dialect. Default: signaling.JSON.
	Codec signaling.Codec
	// Header is sent with the handshake: Authorization, Origin, Cookie...
	Header http.Header
	// HTTPClient performs the handshake. Its Transport must be an *http.Transport (or return
	// writable bodies for 101 responses). Default: http.DefaultClient.
	HTTPClient *http.Client
	// ReadLimit is the largest server frame accepted, in bytes. Default: DefaultClientReadLimit.
	// Negative: no limit.
	ReadLimit int64
}

// DefaultClientReadLimit is the client's default read limit: large enough for a `history` of
// 100 long messages.
const DefaultClientReadLimit = 16 << 20

func (opts *DialOptions) withDefaults() DialOptions {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	if o.Codec == nil {
		o.Codec = signaling.JSON
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.ReadLimit == 0 {
		o.ReadLimit = DefaultClientReadLimit
	}
	if o.ReadLimit < 0 {
		o.ReadLimit = -1
	}
	return o
}

// HandshakeError reports a WebSocket handshake that the server refused with an HTTP status,
// such as Handler's 401, 400 and 403. For a 401 it wraps signaling.ErrUnauthenticated.
type HandshakeError struct {
	StatusCode int    // the HTTP status
	Code       string // the "error" of Handler's JSON body ("unauthorized", "bad_request"), if any
	Message    string // the "message" of the JSON body, or the start of a plain-text body
}

func (e *HandshakeError) Error() string {
	s := fmt.Sprintf("ws: handshake refused: HTTP %d", e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns signaling.ErrUnauthenticated for a 401, so that
// errors.Is(err, signaling.ErrUnauthenticated) holds.
func (e *HandshakeError) Unwrap() error {
	if e.StatusCode == http.StatusUnauthorized {
		return signaling.ErrUnauthenticated
	}
	return nil
}

// Dial opens a WebSocket to a Huddle endpoint (ws:// or wss://; http:// and https:// work too)
// and returns it as a signaling.Conn, with the handshake response. url carries the credentials
// (`?token=`, or `?user=&name=` with the dev authenticator) unless opts.Header does.
//
// A refused handshake returns a *HandshakeError and the response (its body, at most 1 KiB, can
// still be read).
// The Conn's Read reports the server's close as a *signaling.CloseError (1009, 1012, 1013...);
// Write sends text messages. Read must be called from one goroutine, and regularly: it also
// answers the server's pings. Write and Close are safe for concurrent use; Close is idempotent.
//
// Dial is the low-level client for tests, bots and tools; Connect adds the `session` handshake,
// reconnection and resume.
func Dial(ctx context.Context, url string, opts *DialOptions) (signaling.Conn, *http.Response, error) {
	c, resp, err := dial(ctx, url, opts)
	if err != nil {
		return nil, resp, err
	}
	return c, resp, nil
}

func dial(ctx context.Context, url string, opts *DialOptions) (*conn, *http.Response, error) {
	o := opts.withDefaults()
	wc, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   o.HTTPClient,
		HTTPHeader:   o.Header,
		Subprotocols: []string{signaling.SubprotocolPrefix + o.Codec.Name()},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, resp, handshakeError(resp)
		}
		return nil, resp, fmt.Errorf("ws: dial: %w", err)
	}
	wc.SetReadLimit(o.ReadLimit)
	return newConn(wc, slog.New(slog.DiscardHandler)), resp, nil
}

func handshakeError(resp *http.Response) *HandshakeError {
	e := &HandshakeError{StatusCode: resp.StatusCode}
	if resp.Body == nil {
		return e
	}
	// coder/websocket keeps at most the first 1 KiB of a refused handshake's body.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b)) // still readable by the caller
	var body errorBody
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Code, e.Message = body.Error, body.Message
		return e
	}
	e.Message = strings.TrimSpace(string(b))
	if len(e.Message) > 200 {
		e.Message = e.Message[:200]
	}
	return e
}
