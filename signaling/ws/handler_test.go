package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

var jwtSecret = []byte("ws-test-secret")

func token(t *testing.T, key []byte, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func TestAuthBeforeUpgrade(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, &ws.Options{Authenticator: jwtauth.New(jwtSecret, nil)})
	exp := time.Now().Add(time.Hour).Unix()
	valid := token(t, jwtSecret, jwt.MapClaims{"sub": "u1", "username": "Una", "exp": exp})

	cases := []struct {
		name   string
		query  string
		header http.Header
		status int
		msg    string // a part of the 401 message
	}{
		{name: "no credentials", status: http.StatusUnauthorized, msg: "no token"},
		{name: "garbage token", query: "?token=garbage", status: http.StatusUnauthorized, msg: "malformed"},
		{name: "wrong secret", query: "?token=" + token(t, []byte("other"), jwt.MapClaims{"sub": "u1", "exp": exp}), status: http.StatusUnauthorized, msg: "signature"},
		{name: "expired", query: "?token=" + token(t, jwtSecret, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(-time.Minute).Unix()}), status: http.StatusUnauthorized, msg: "expired"},
		{name: "dev credentials are not a token", query: "?user=u1", status: http.StatusUnauthorized, msg: "no token"},
		{name: "valid token in query", query: "?token=" + valid, status: http.StatusSwitchingProtocols},
		{name: "valid token in header", header: http.Header{"Authorization": {"Bearer " + valid}}, status: http.StatusSwitchingProtocols},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, hdr, body := handshake(t, e, tc.query, tc.header)
			is.Equal(status, tc.status) // the handshake's status
			if tc.status != http.StatusUnauthorized {
				return
			}
			is.Equal(hdr.Get("Upgrade"), "")                                        // no upgrade
			is.True(strings.HasPrefix(hdr.Get("Content-Type"), "application/json")) // a JSON body
			is.True(hdr.Get("WWW-Authenticate") != "")                              // says how to authenticate
			eb := decodeError(t, body)
			is.Equal(eb.Error, "unauthorized")            // the protocol's error code
			is.True(strings.Contains(eb.Message, tc.msg)) // the reason
		})
	}

	t.Run("via Dial", func(t *testing.T) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, resp, err := ws.Dial(ctx, e.url+"?token=garbage", nil)
		is.True(c == nil)                                     // no connection
		is.True(errors.Is(err, signaling.ErrUnauthenticated)) // a 401 is unauthenticated
		var he *ws.HandshakeError
		is.True(errors.As(err, &he))                       // the refusal's details
		is.Equal(he.StatusCode, http.StatusUnauthorized)   // 401
		is.Equal(he.Code, "unauthorized")                  // from the JSON body
		is.True(strings.Contains(he.Message, "malformed")) // the reason
		is.Equal(resp.StatusCode, http.StatusUnauthorized) // the response is returned too
	})

	t.Run("Dial with a Bearer header", func(t *testing.T) {
		is := is.New(t)
		c, _ := dial(t, e.url, &ws.DialOptions{Header: http.Header{"Authorization": {"Bearer " + valid}}})
		var info ws.SessionInfo
		is.NoErr(c.Expect("session", wait).Bind(&info))                // the session starts
		is.Equal(info.User, signaling.User{ID: "u1", Username: "Una"}) // user from sub and username
	})
}

func TestAuthenticatorErrors(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	var fail atomic.Pointer[error]
	auth := signaling.AuthenticatorFunc(func(r *http.Request) (signaling.Identity, error) {
		if err := fail.Load(); err != nil {
			return signaling.Identity{}, *err
		}
		return signaling.Identity{}, nil // no user id
	})
	e := start(t, nil, &ws.Options{Authenticator: auth})
	cases := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"no user id", nil, http.StatusUnauthorized, "unauthorized", "authentication failed"},
		{"unauthenticated", errors.Join(signaling.ErrUnauthenticated, errors.New("sso: cookie expired")), http.StatusUnauthorized, "unauthorized", "sso: cookie expired"},
		{"backend down", signaling.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "try again"},
		{"other error keeps its detail in the logs", errors.New("db password rejected"), http.StatusUnauthorized, "unauthorized", "authentication failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			if tc.err != nil {
				fail.Store(&tc.err)
			}
			status, _, body := handshake(t, e, "", nil)
			eb := decodeError(t, body)
			is.Equal(status, tc.status)                   // the status for this failure
			is.Equal(eb.Error, tc.code)                   // the error code
			is.True(strings.Contains(eb.Message, tc.msg)) // the message
			is.True(!strings.Contains(eb.Message, "db"))  // internal details stay in the logs
		})
	}
}

func TestBadRequest(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	cases := []struct {
		name   string
		query  string
		header http.Header
		msg    string
	}{
		{"negative lastSeq", "?user=a&resume=x&lastSeq=-1", nil, "lastSeq"},
		{"lastSeq not a number", "?user=a&resume=x&lastSeq=abc", nil, "lastSeq"},
		{"fractional lastSeq", "?user=a&lastSeq=1.5", nil, "lastSeq"},
		{"empty lastSeq", "?user=a&lastSeq=", nil, "lastSeq"},
		{"unknown ?codec", "?user=a&codec=xml", nil, "codec"},
		{"unknown huddle subprotocol", "?user=a", http.Header{"Sec-Websocket-Protocol": {"huddle.v1.xml"}}, "subprotocol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, hdr, body := handshake(t, e, tc.query, tc.header)
			is.Equal(status, http.StatusBadRequest) // refused before the upgrade
			is.Equal(hdr.Get("Upgrade"), "")        // no upgrade
			eb := decodeError(t, body)
			is.Equal(eb.Error, "bad_request")             // the protocol's error code
			is.True(strings.Contains(eb.Message, tc.msg)) // names the bad parameter
		})
	}
}

func TestResumeToken(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	a, _ := dial(t, e.url+"?user=a", nil)
	var info ws.SessionInfo
	is.NoErr(a.Expect("session", wait).Bind(&info)) // a session with a token
	is.True(info.ResumeToken != "")                 // resume is on by default

	cases := []struct {
		name   string
		user   string
		token  string
		status int
	}{
		{"garbled", "a", "nonsense", http.StatusUnauthorized},
		{"garbled mac", "a", info.SessionID + ".AAAA", http.StatusUnauthorized},
		{"another user's token", "b", info.ResumeToken, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, _, body := handshake(t, e, "?user="+tc.user+"&resume="+url.QueryEscape(tc.token)+"&lastSeq=0", nil)
			is.Equal(status, tc.status)                          // refused before the upgrade
			is.Equal(decodeError(t, body).Error, "unauthorized") // as PROTOCOL.md §4 says
		})
	}

	t.Run("own token resumes", func(t *testing.T) {
		is := is.New(t)
		b, _ := dial(t, e.url+"?user=a&resume="+url.QueryEscape(info.ResumeToken)+"&lastSeq=0", nil)
		var again ws.SessionInfo
		is.NoErr(b.Expect("session", wait).Bind(&again)) // the session frame
		is.True(again.Resumed)                           // resumed
		is.Equal(again.SessionID, info.SessionID)        // the same session
		b.Expect("resumed", wait)
		is.Equal(a.ExpectClosed(wait), signaling.StatusGoingAway) // the old connection is replaced
	})
}

func TestOrigin(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, &ws.Options{OriginPatterns: []string{"*.example.com"}})
	host := strings.TrimPrefix(e.srv.URL, "http://")
	cases := []struct {
		name   string
		origin string
		status int
	}{
		{"no origin (not a browser)", "", http.StatusSwitchingProtocols},
		{"same host", "http://" + host, http.StatusSwitchingProtocols},
		{"allowed pattern", "https://app.example.com", http.StatusSwitchingProtocols},
		{"foreign origin", "https://evil.test", http.StatusForbidden},
		{"suffix trick", "https://app.example.com.evil.test", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			status, _, _ := handshake(t, e, "?user=a", h)
			is.Equal(status, tc.status) // the origin decides
		})
	}

	t.Run("via Dial", func(t *testing.T) {
		is := is.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, _, err := ws.Dial(ctx, e.url+"?user=a", &ws.DialOptions{Header: http.Header{"Origin": {"https://evil.test"}}})
		var he *ws.HandshakeError
		is.True(errors.As(err, &he))                  // refused
		is.Equal(he.StatusCode, http.StatusForbidden) // with 403
	})
}

func TestCodecNegotiation(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	plain := start(t, nil, nil)
	payloadDefault := start(t, nil, &ws.Options{DefaultCodec: signaling.JSONPayload})
	cases := []struct {
		name  string
		e     *env
		query string
		offer []string
		proto string // the subprotocol the server picks
		key   string // "data" or "payload"
	}{
		{"no subprotocol gets the default", plain, "", nil, "", "data"},
		{"no subprotocol gets the configured default", payloadDefault, "", nil, "", "payload"},
		{"subprotocol json", payloadDefault, "", []string{"huddle.v1.json"}, "huddle.v1.json", "data"},
		{"subprotocol json-payload", plain, "", []string{"huddle.v1.json-payload"}, "huddle.v1.json-payload", "payload"},
		{"first known of several", plain, "", []string{"chat", "huddle.v1.xml", "huddle.v1.json-payload", "huddle.v1.json"}, "huddle.v1.json-payload", "payload"},
		{"foreign subprotocols only", plain, "", []string{"chat"}, "", "data"},
		{"query codec", plain, "&codec=json-payload", nil, "", "payload"},
		{"subprotocol wins over query", plain, "&codec=json-payload", []string{"huddle.v1.json"}, "huddle.v1.json", "data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			c, _, err := websocket.Dial(ctx, tc.e.url+"?user=a"+tc.query, &websocket.DialOptions{Subprotocols: tc.offer})
			is.NoErr(err) // upgraded
			defer c.CloseNow()
			is.Equal(c.Subprotocol(), tc.proto) // the negotiated subprotocol

			read := func() map[string]json.RawMessage {
				_, b, err := c.Read(ctx)
				is.NoErr(err) // a frame
				var m map[string]json.RawMessage
				is.NoErr(json.Unmarshal(b, &m)) // a JSON object
				return m
			}
			other := map[string]string{"data": "payload", "payload": "data"}[tc.key]
			session := read()
			is.Equal(string(session["event"]), `"session"`) // session first
			is.True(session[tc.key] != nil)                 // under the codec's key
			is.True(session[other] == nil)                  // and only there

			is.NoErr(c.Write(ctx, websocket.MessageText, []byte(`{"event":"echo","data":{"x":1},"ref":"r"}`))) // clients may always send data
			echo := read()
			is.Equal(string(echo["event"]), `"echo"`)            // the reply
			is.Equal(string(echo[tc.key]), `{"x":1}`)            // under the codec's key
			is.True(echo["seq"] != nil)                          // stamped with seq
			is.NoErr(c.Close(websocket.StatusNormalClosure, "")) // a clean close
		})
	}
}

func TestReadLimit(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	cases := []struct {
		name      string
		nodeLimit int
		wsLimit   int64
		size      int
		tooBig    bool
	}{
		{"under the ws limit", 0, 1024, 900, false},
		{"over the ws limit", 0, 1024, 1100, true},
		{"default follows the node's limit", 2048, 0, 1900, false},
		{"over the node's limit", 2048, 0, 2100, true},
		{"over the 64 KiB default", 0, 0, 70 << 10, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			e := start(t, &signaling.NodeOptions{Limits: signaling.Limits{MaxFrameBytes: tc.nodeLimit}}, &ws.Options{ReadLimit: tc.wsLimit})
			c, _ := dial(t, e.url+"?user=a", nil)
			c.Expect("session", wait)
			pad := strings.Repeat("x", tc.size-len(`{"event":"echo","data":""}`))
			frame := `{"event":"echo","data":"` + pad + `"}`
			is.Equal(len(frame), tc.size) // the frame has the intended size
			c.SendRaw([]byte(frame))
			if tc.tooBig {
				is.Equal(c.ExpectClosed(wait), signaling.StatusMessageTooBig) // closed with 1009
				return
			}
			is.Equal(len(c.Expect("echo", wait).Data), len(pad)+2) // echoed whole
		})
	}
}

func TestRoundTrip(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	gone := make(chan string, 1)
	e.node.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionGone {
			gone <- s.ID()
		}
	})
	c, resp := dial(t, e.url+"?user=a&name=Alice", nil)
	is.Equal(resp.Header.Get("Sec-WebSocket-Protocol"), "huddle.v1.json") // Dial asks for its codec

	var info ws.SessionInfo
	is.NoErr(c.Expect("session", wait).Bind(&info))                 // the session frame
	is.Equal(info.User, signaling.User{ID: "a", Username: "Alice"}) // the authenticated user
	is.True(info.SessionID != "" && info.ResumeToken != "")         // id and resume token
	is.Equal(info.ResumeWindowMs, int64(60000))                     // the default window

	c.SendRef("echo", map[string]string{"hello": "world"}, "r1")
	f := c.Expect("echo", wait)
	is.Equal(f.Ref, "r1")                         // ref echoed
	is.Equal(string(f.Data), `{"hello":"world"}`) // data echoed
	is.True(f.Seq > 0)                            // replayable events carry seq

	c.SendRef("ping", map[string]any{}, "p1")
	p := c.Expect("pong", wait)
	is.Equal(p.Ref, "p1")      // pong echoes ref
	is.Equal(p.Seq, uint64(0)) // pong is ephemeral

	c.Close(signaling.StatusNormalClosure)
	is.Equal(until(t, gone, wait, "session end"), info.SessionID) // a clean close ends the session at once
}

func TestShutdownCloses1012(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, nil, nil)
	c, _ := dial(t, e.url+"?user=a", nil)
	c.Expect("session", wait)
	shutdown(t, e.node)
	is.Equal(c.ExpectClosed(wait), signaling.StatusServiceRestart) // clients are told to reconnect
}

func TestSlowConsumerCloses1013(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	e := start(t, &signaling.NodeOptions{QueueBytes: 1}, nil)
	c, _ := dial(t, e.url+"?user=a", nil)
	var info ws.SessionInfo
	is.NoErr(c.Expect("session", wait).Bind(&info)) // the session frame
	topic := signaling.SessionTopic(info.SessionID)
	publish(t, e.node, topic, 1)                                  // a queue bound of one byte: the first broadcast overflows it
	is.Equal(e.node.Stats().SlowConsumers, int64(1))              // the queue overflowed
	is.Equal(c.ExpectClosed(wait), signaling.StatusTryAgainLater) // the client sees 1013
}

func TestExpiryCloses1008(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := start(t, &signaling.NodeOptions{Clock: clk}, &ws.Options{Authenticator: jwtauth.New(jwtSecret, &jwtauth.Options{Clock: clk.Now})})
	tok := token(t, jwtSecret, jwt.MapClaims{"sub": "u1", "exp": clk.Now().Add(time.Hour).Unix()})
	c, _ := dial(t, e.url+"?token="+tok, nil)
	c.Expect("session", wait)
	c.Send("echo", 1)
	c.Expect("echo", wait) // the session is running, its expiry scheduled
	clk.Advance(2 * time.Hour)
	is.Equal(c.ExpectClosed(wait), signaling.StatusPolicyViolation) // an expired token ends the session
}

func TestHeartbeat(t *testing.T) {
	is := is.New(t)
	checkLeaks(t)
	cases := []struct {
		name   string
		answer bool
	}{
		{"a client that answers stays", true},
		{"a client that does not answer is dropped", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			e := start(t, nil, &ws.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 200 * time.Millisecond})
			dropped := make(chan struct{}, 1)
			e.node.OnSession(func(_ context.Context, _ *signaling.Session, ev signaling.SessionEvent) {
				if ev == signaling.SessionDropped {
					dropped <- struct{}{}
				}
			})
			pings := make(chan struct{}, 100)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			c, _, err := websocket.Dial(ctx, e.url+"?user=a", &websocket.DialOptions{
				OnPingReceived: func(context.Context, []byte) bool {
					select {
					case pings <- struct{}{}:
					default:
					}
					return tc.answer
				},
			})
			is.NoErr(err) // upgraded
			defer c.CloseNow()
			frames := make(chan error, 10)
			go func() {
				for {
					_, _, err := c.Read(ctx)
					frames <- err
					if err != nil {
						return
					}
				}
			}()
			is.NoErr(until(t, frames, wait, "session frame")) // the session frame
			if tc.answer {
				for range 3 {
					until(t, pings, wait, "a ping")
				}
				is.NoErr(c.Write(ctx, websocket.MessageText, []byte(`{"event":"echo","data":1}`))) // still writable
				is.NoErr(until(t, frames, wait, "echo"))                                           // and answered
				is.NoErr(c.Close(websocket.StatusNormalClosure, ""))                               // a clean close
				return
			}
			until(t, pings, wait, "a ping")
			err = until(t, frames, wait, "the connection's end")
			is.True(err != nil)                                            // the server dropped the connection
			is.Equal(websocket.CloseStatus(err), websocket.StatusCode(-1)) // without a close frame
			until(t, dropped, wait, "dropped session")                     // the session waits for a resume
		})
	}
}

// TestHandlerMisconfigured: a misconfiguration is an error from Handler, not a panic.
func TestHandlerMisconfigured(t *testing.T) {
	is := is.New(t)
	n := signaling.NewNode(nil)
	cases := []struct {
		name string
		opts *ws.Options
	}{
		{"nil options", nil},
		{"no authenticator", &ws.Options{}},
		{"bad origin pattern", &ws.Options{Authenticator: signaling.DevAuthenticator{}, OriginPatterns: []string{"[bad"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			h, err := ws.Handler(n, tc.opts)
			is.True(err != nil) // a misconfiguration is an error
			is.True(h == nil)   // and no handler
		})
	}
	_, err := ws.Handler(nil, &ws.Options{Authenticator: signaling.DevAuthenticator{}})
	is.True(err != nil)                        // no Server is an error too
	is.NoErr(n.Shutdown(context.Background())) // nothing to shut down
}
