package main

import (
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/signaling/jwtauth"
	"github.com/matryer/is"
)

func TestMessageFrame(t *testing.T) {
	is := is.New(t)
	for _, size := range []int{1, 21, 64, 1000} {
		cfg, err := parseConfig([]string{"-content-bytes", strconv.Itoa(size)}, noEnv, io.Discard)
		is.NoErr(err)
		l := newLoad(cfg)
		c := &client{l: l, idx: 3, room: l.roomName(1)}
		stamp := l.clk.now()
		var f struct {
			Event string `json:"event"`
			Data  outMessage
		}
		is.NoErr(json.Unmarshal(c.messageFrame(sendItem{stamp: stamp, measured: true}), &f))
		is.Equal(f.Event, "message")                             // a chat message
		is.Equal(f.Data.RoomID, "load-"+l.runID+"-1")            // to the client's room
		is.Equal(len(f.Data.Content), max(size, len("t=")+19+1)) // padded to -content-bytes, never cut below the stamp
		got, measured, ok := parseStamp(f.Data.Content)
		is.True(ok)                                  // the stamp reads back
		is.Equal(got, stamp)                         // unchanged
		is.True(measured)                            // with its window
		is.Equal(f.Data.ClientMsgID, l.runID+"-3-1") // unique per run, client and message
	}
	c := &client{l: newLoad(config{contentBytes: 64})}
	got, measured, ok := parseStamp(jsonContent(t, c.messageFrame(sendItem{stamp: 42})))
	is.True(ok && got == 42) // a warmup message is stamped too
	is.True(!measured)       // but marked as warmup
	_, _, ok = parseStamp("hello")
	is.True(!ok) // a message without a stamp is not timed
	_, _, ok = parseStamp("t=|x")
	is.True(!ok)
}

func TestDialURL(t *testing.T) {
	is := is.New(t)
	cfg, err := parseConfig([]string{"-url", "ws://127.0.0.1:1/ws?codec=json"}, noEnv, io.Discard)
	is.NoErr(err)
	raw, err := newLoad(cfg).dialURL(7, "load-7", "Load 7")
	is.NoErr(err)
	u, _ := url.Parse(raw)
	is.Equal(u.Query().Get("user"), "load-7") // dev auth: the user id
	is.Equal(u.Query().Get("name"), "Load 7") // and the display name
	is.Equal(u.Query().Get("codec"), "json")  // the endpoint's own parameters are kept

	cfg.tokenSecret = "s3cret"
	raw, err = newLoad(cfg).dialURL(7, "load-7", "Load 7")
	is.NoErr(err)
	u, _ = url.Parse(raw)
	is.Equal(u.Query().Get("user"), "") // a token replaces the dev parameters
	var claims jwtauth.Claims
	tok, err := jwt.ParseWithClaims(u.Query().Get("token"), &claims, func(*jwt.Token) (any, error) { return []byte("s3cret"), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	is.NoErr(err)                                                              // an HS256 token with the secret
	is.True(tok.Valid)                                                         // that verifies
	is.Equal(claims.Subject, "load-7")                                         // for the user
	is.Equal(claims.Username, "Load 7")                                        // with its name
	is.True(claims.ExpiresAt.After(time.Now().Add(cfg.warmup + cfg.duration))) // and outlives the run
}

// jsonContent returns the content of an encoded message frame.
func jsonContent(t *testing.T, frame []byte) string {
	t.Helper()
	var f struct{ Data outMessage }
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatal(err)
	}
	return f.Data.Content
}

// TestDialURLSpreadsRooms: with several endpoints (the nodes of a cluster) every room has
// clients on each of them, so that its deliveries cross the Broker.
func TestDialURLSpreadsRooms(t *testing.T) {
	is := is.New(t)
	cfg, err := parseConfig([]string{"-url", "ws://127.0.0.1:1/ws, ws://127.0.0.1:2/ws", "-clients", "8", "-rooms", "4",
		"-server-pid", "10,11"}, noEnv, io.Discard)
	is.NoErr(err)                           // two endpoints and two pids parse
	is.Equal(cfg.serverPIDs, []int{10, 11}) // both pids are sampled
	l := newLoad(cfg)
	hosts := map[int]map[string]bool{} // room → endpoints of its clients
	for idx := range cfg.clients {
		raw, err := l.dialURL(idx, "u", "U")
		is.NoErr(err)
		u, _ := url.Parse(raw)
		room := idx % cfg.rooms
		if hosts[room] == nil {
			hosts[room] = map[string]bool{}
		}
		hosts[room][u.Host] = true
	}
	for _, h := range hosts {
		is.Equal(len(h), 2) // every room spans both nodes
	}
}
