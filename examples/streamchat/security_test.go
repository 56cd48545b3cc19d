package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/huddle-go/huddle/clock"
	"github.com/matryer/is"
)

// checkAPIError checks the original's (Nest) error body for a status.
func checkAPIError(t *testing.T, code int, body []byte, want int) {
	t.Helper()
	if code != want {
		t.Fatalf("status %d (%s), want %d", code, body, want)
	}
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e["statusCode"] != float64(want) || e["message"] == "" || e["message"] == nil {
		t.Fatalf("error body %s: want {message, statusCode: %d}", body, want)
	}
	if want == http.StatusUnauthorized && (e["message"] != "Unauthorized" || len(e) != 2) {
		t.Fatalf("401 body %s: want exactly {\"message\":\"Unauthorized\",\"statusCode\":401}", body)
	}
}

func (ts *testServer) login(t *testing.T, name, password string) (int, []byte) {
	t.Helper()
	return ts.call(t, "POST", "/api/auth/login", "", map[string]string{"username": name, "password": password})
}

func (ts *testServer) tokenCount(t *testing.T, a *account) int {
	t.Helper()
	n, err := ts.b.accounts.RefreshTokens(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCredentials(t *testing.T) {
	ts := startServer(t, nil, nil)
	alice := ts.register(t, "alice")
	tests := []struct {
		name, user, password string
	}{
		{"wrong password", "alice", "not-her-password"},
		{"unknown user", "mallory", alice.Password},
		{"empty password", "alice", ""},
		{"password over bcrypt's 72 bytes", "alice", alice.Password + strings.Repeat("x", 80)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			before := ts.tokenCount(t, alice)
			code, body := ts.login(t, tc.user, tc.password)
			checkAPIError(t, code, body, http.StatusUnauthorized)
			is.Equal(ts.tokenCount(t, alice), before) // no token issued
		})
	}
	t.Run("right password", func(t *testing.T) {
		code, body := ts.login(t, "alice", alice.Password)
		is.New(t).Equal(code, http.StatusOK)
		p := decode[tokenPair](t, body)
		is.New(t).True(p.AccessToken != "" && p.RefreshToken != "")
	})
	t.Run("duplicate user", func(t *testing.T) {
		is := is.New(t)
		code, body := ts.call(t, "POST", "/api/auth/register", "", map[string]string{"username": "alice", "password": "another-password"})
		checkAPIError(t, code, body, http.StatusConflict)
		is.Equal(string(body), `{"message":"User already exists","error":"Conflict","statusCode":409}`+"\n")
		code, _ = ts.login(t, "alice", "another-password")
		is.Equal(code, http.StatusUnauthorized) // the account is unchanged
		code, _ = ts.login(t, "alice", alice.Password)
		is.Equal(code, http.StatusOK)
	})
	t.Run("weak registration", func(t *testing.T) {
		for _, c := range []map[string]string{
			{"username": "bob", "password": "short"},
			{"username": "", "password": "long-enough"},
			{"username": " bob", "password": "long-enough"},
			{"username": strings.Repeat("b", 65), "password": "long-enough"},
			{"username": "bo\x00b", "password": "long-enough"},
			{"username": "bob", "password": strings.Repeat("p", 73)}, // over bcrypt's limit
		} {
			code, body := ts.call(t, "POST", "/api/auth/register", "", c)
			checkAPIError(t, code, body, http.StatusBadRequest)
		}
		code, _ := ts.login(t, "bob", "short")
		is.New(t).Equal(code, http.StatusUnauthorized)
	})
	t.Run("no password in responses or logs", func(t *testing.T) {
		_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
		is.New(t).True(!strings.Contains(ts.logs.String(), alice.Password))
		is.New(t).True(!strings.Contains(string(body), "$2a$")) // no bcrypt hash anywhere
	})
}

func TestRefreshRotation(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, nil, nil)
	alice := ts.register(t, "alice")
	refresh := func(tok string) (int, []byte) {
		return ts.call(t, "POST", "/api/auth/refresh", "", nil, "x-refresh-token", tok)
	}
	code, body := refresh(alice.Refresh)
	is.Equal(code, http.StatusOK)
	next := decode[tokenPair](t, body)
	is.True(next.RefreshToken != alice.Refresh) // rotated
	code, _ = ts.call(t, "GET", "/api/auth/userDetails", next.AccessToken, nil)
	is.Equal(code, http.StatusOK)

	// The old token again: refused, and the whole sign-in is revoked, the new token with it.
	code, body = refresh(alice.Refresh)
	checkAPIError(t, code, body, http.StatusUnauthorized)
	code, body = refresh(next.RefreshToken)
	checkAPIError(t, code, body, http.StatusUnauthorized)
	is.Equal(ts.tokenCount(t, alice), 0)

	for _, bad := range []string{"", "garbage", "a.b", strings.Repeat("x", 300), alice.Access} {
		code, body = refresh(bad)
		checkAPIError(t, code, body, http.StatusUnauthorized)
	}
	// Signing in again works; logout revokes its refresh token.
	code, body = ts.login(t, "alice", alice.Password)
	is.Equal(code, http.StatusOK)
	p := decode[tokenPair](t, body)
	code, body = ts.call(t, "POST", "/api/auth/logout", p.AccessToken, nil)
	is.Equal(code, http.StatusOK)
	is.Equal(string(body), `{"message":"ok"}`+"\n")
	code, _ = refresh(p.RefreshToken)
	is.Equal(code, http.StatusUnauthorized)
}

// testSecret is a -jwt-secret long enough to be accepted (32 bytes or more).
const testSecret = "test-secret-0123456789abcdef-xyzw"

func TestAccessTokens(t *testing.T) {
	ts := startServer(t, []string{"-jwt-secret", testSecret}, nil)
	alice := ts.register(t, "alice")
	mint := func(secret string, method jwt.SigningMethod, c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(method, c).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	good := jwt.MapClaims{"sub": alice.ID, "username": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"the server's own token", alice.Access, true},
		{"minted with the secret", mint(testSecret, jwt.SigningMethodHS256, good), true},
		{"no token", "", false},
		{"other secret", mint("other", jwt.SigningMethodHS256, good), false},
		{"alg none", none, false},
		{"HS512", mint(testSecret, jwt.SigningMethodHS512, good), false},
		{"expired", mint(testSecret, jwt.SigningMethodHS256, with("exp", now.Add(-time.Minute).Unix())), false},
		{"no exp", mint(testSecret, jwt.SigningMethodHS256, with("exp", nil)), false},
		{"issued in the future", mint(testSecret, jwt.SigningMethodHS256, with("iat", now.Add(time.Hour).Unix())), false},
		{"unknown user", mint(testSecret, jwt.SigningMethodHS256, with("sub", "someone-else")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			for _, path := range []string{"/api/auth/userDetails", "/api/room/all"} {
				code, body := ts.call(t, "GET", path, tc.token, nil)
				if tc.ok {
					is.Equal(code, http.StatusOK)
				} else {
					checkAPIError(t, code, body, http.StatusUnauthorized)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			c, res, err := websocket.Dial(ctx, ts.WS+"?token="+tc.token, nil)
			if tc.ok {
				is.NoErr(err)
				_ = c.Close(websocket.StatusNormalClosure, "")
				return
			}
			is.True(err != nil)
			is.Equal(res.StatusCode, http.StatusUnauthorized) // refused before the upgrade
		})
	}
}

func TestDeletedUser(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, []string{"-rooms", "General"}, nil)
	alice, bob := ts.register(t, "alice"), ts.register(t, "bob")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	ts.openRoom(t, alice, general)
	ts.openRoom(t, bob, general)
	as := ts.connect(t, alice)
	code, body := ts.call(t, "POST", "/api/message/create", alice.Access, map[string]string{"roomId": general, "content": "bye"})
	is.Equal(code, http.StatusCreated)
	checkMessage(t, body, general, "bye", alice)

	// Only one's own account can be deleted.
	code, body = ts.call(t, "DELETE", "/api/user/"+bob.ID, alice.Access, nil)
	checkAPIError(t, code, body, http.StatusForbidden)
	code, _ = ts.call(t, "GET", "/api/auth/userDetails", bob.Access, nil)
	is.Equal(code, http.StatusOK) // bob is still there

	code, _ = ts.call(t, "DELETE", "/api/user/"+alice.ID, alice.Access, nil)
	is.Equal(code, http.StatusOK)
	// Her live socket is closed with 1008.
	select {
	case <-as.done:
	case <-time.After(wait):
		t.Fatal("alice's socket was not closed")
	}
	is.Equal(websocket.CloseStatus(as.err), websocket.StatusPolicyViolation)

	// Her token, still within its exp, opens nothing anymore.
	for _, path := range []string{"/api/auth/userDetails", "/api/room/all", "/api/message/" + general} {
		code, body := ts.call(t, "GET", path, alice.Access, nil)
		checkAPIError(t, code, body, http.StatusUnauthorized)
	}
	code, body = ts.call(t, "POST", "/api/message/create", alice.Access, map[string]string{"roomId": general, "content": "ghost"})
	checkAPIError(t, code, body, http.StatusUnauthorized)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, res, err := websocket.Dial(ctx, ts.WS+"?token="+alice.Access, nil) //nolint:bodyclose // the handshake's body
	is.True(err != nil)
	is.Equal(res.StatusCode, http.StatusUnauthorized)
	code, _ = ts.call(t, "POST", "/api/auth/refresh", "", nil, "x-refresh-token", alice.Refresh)
	is.Equal(code, http.StatusUnauthorized)
	code, _ = ts.login(t, "alice", alice.Password)
	is.Equal(code, http.StatusUnauthorized)

	// Nothing else changed: the room, its history (her message stays), bob's membership; alice
	// is no member.
	room, hist := ts.openRoom(t, bob, general)
	is.Equal(len(room.Users), 1)
	is.Equal(room.Users[0]["id"], bob.ID)
	is.Equal(len(hist), 1)
	checkMessage(t, hist[0], general, "bye", alice)
}

// TestOtherUsersRoom: under the open-a-room rule every group room is anyone's to open (the app's
// sidebar lists them all), so "another user's room" is a direct room: created for its members,
// listed to them only, and refused to anyone else without making them a member.
func TestOtherUsersRoom(t *testing.T) {
	is := is.New(t)
	ts := startServer(t, nil, nil)
	alice, bob, carol := ts.register(t, "alice"), ts.register(t, "bob"), ts.register(t, "carol")
	code, body := ts.call(t, "POST", "/api/room/create", alice.Access, map[string]any{"name": "alice-bob", "type": "direct", "users": []string{bob.ID}})
	is.Equal(code, http.StatusCreated)
	dm := decode[wireRoom](t, body)
	is.Equal(dm.Name, "alice-bob")
	code, body = ts.call(t, "POST", "/api/room/create", carol.Access, map[string]any{"name": "alice-bob"})
	checkAPIError(t, code, body, http.StatusConflict) // names are unique; nothing is created
	// bob is a member from the start: he gets alice's message live.
	bs := ts.connect(t, bob)
	code, _ = ts.call(t, "POST", "/api/message/create", alice.Access, map[string]string{"roomId": dm.ID, "content": "just us"})
	is.Equal(code, http.StatusCreated)
	checkMessage(t, bs.expect("message").Payload, dm.ID, "just us", alice)

	list := func(a *account) []wireRoom {
		_, body := ts.call(t, "GET", "/api/room/all", a.Access, nil)
		return decode[[]wireRoom](t, body)
	}
	is.Equal(len(list(bob)), 1)
	is.Equal(len(list(carol)), 0) // not listed to others

	for _, path := range []string{"/api/message/" + dm.ID, "/api/room/" + dm.ID} {
		code, body := ts.call(t, "GET", path, carol.Access, nil)
		checkAPIError(t, code, body, http.StatusForbidden)
	}
	code, body = ts.call(t, "POST", "/api/message/create", carol.Access, map[string]string{"roomId": dm.ID, "content": "let me in"})
	checkAPIError(t, code, body, http.StatusForbidden)
	cs := ts.connect(t, carol)
	cs.send("message", map[string]any{"roomId": dm.ID, "content": "let me in"})
	cs.send("get_room_info", map[string]any{"roomId": dm.ID})
	cs.send("start_meeting", map[string]any{"roomId": dm.ID})
	cs.sync()
	errs := cs.takeErrors()
	is.Equal(len(errs), 3) // each refused, over the socket too
	for _, e := range errs {
		is.Equal(decode[map[string]any](t, e.Payload)["code"], "forbidden")
	}
	bs.quiet("nothing of carol's reaches the room")

	// Nothing changed: carol is no member, the history is alice's one message.
	member, err := ts.b.chat.IsMember(context.Background(), dm.ID, carol.ID)
	is.NoErr(err)
	is.True(!member)
	room, hist := ts.openRoom(t, bob, dm.ID)
	is.Equal(len(room.Users), 2)
	is.Equal(len(hist), 1)

	code, body = ts.call(t, "GET", "/api/message/no-such-room", carol.Access, nil)
	checkAPIError(t, code, body, http.StatusNotFound)
}

func TestBadBodies(t *testing.T) {
	ts := startServer(t, []string{"-rooms", "General"}, nil)
	alice := ts.register(t, "alice")
	_, body := ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	general := decode[[]wireRoom](t, body)[0].ID
	huge := `{"username":"` + strings.Repeat("x", 1<<20) + `","password":"long-enough"}`
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"oversized register", "POST", "/api/auth/register", "", huge, http.StatusRequestEntityTooLarge},
		{"oversized login", "POST", "/api/auth/login", "", huge, http.StatusRequestEntityTooLarge},
		{"oversized message", "POST", "/api/message/create", alice.Access, `{"roomId":"` + general + `","content":"` + strings.Repeat("y", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"message over max-message-bytes", "POST", "/api/message/create", alice.Access, `{"roomId":"` + general + `","content":"` + strings.Repeat("y", 5000) + `"}`, http.StatusRequestEntityTooLarge},
		{"oversized room", "POST", "/api/room/create", alice.Access, `{"name":"` + strings.Repeat("r", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"truncated JSON", "POST", "/api/auth/register", "", `{"username":"bob","password":`, http.StatusBadRequest},
		{"not an object", "POST", "/api/auth/register", "", `["bob","long-enough"]`, http.StatusBadRequest},
		{"wrong type", "POST", "/api/auth/register", "", `{"username":5,"password":"long-enough"}`, http.StatusBadRequest},
		{"two objects", "POST", "/api/auth/login", "", `{"username":"alice"}{"password":"x"}`, http.StatusBadRequest},
		{"empty body", "POST", "/api/auth/login", "", ``, http.StatusBadRequest},
		{"malformed room", "POST", "/api/room/create", alice.Access, `{"name":`, http.StatusBadRequest},
		{"room users not ids", "POST", "/api/room/create", alice.Access, `{"name":"x","users":"bob"}`, http.StatusBadRequest},
		{"room of unknown users", "POST", "/api/room/create", alice.Access, `{"name":"x","users":["nobody"]}`, http.StatusBadRequest},
		{"malformed message", "POST", "/api/message/create", alice.Access, `{"roomId":"` + general + `",`, http.StatusBadRequest},
		{"message without content", "POST", "/api/message/create", alice.Access, `{"roomId":"` + general + `"}`, http.StatusBadRequest},
		{"history limit", "GET", "/api/message/" + general + "?limit=0", alice.Access, ``, http.StatusBadRequest},
		{"unknown route", "GET", "/api/users", alice.Access, ``, http.StatusNotFound},
		{"wrong method", "DELETE", "/api/room/all", alice.Access, ``, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b any
			if tc.body != "" || tc.method == "POST" {
				b = tc.body
			}
			code, body := ts.call(t, tc.method, tc.path, tc.token, b)
			checkAPIError(t, code, body, tc.want)
		})
	}
	// Nothing was created or stored.
	is := is.New(t)
	_, body = ts.call(t, "GET", "/api/room/all", alice.Access, nil)
	is.Equal(len(decode[[]wireRoom](t, body)), 1)
	_, body = ts.call(t, "GET", "/api/message/"+general, alice.Access, nil)
	is.Equal(string(body), "[]\n")
	code, _ := ts.login(t, "bob", "long-enough")
	is.Equal(code, http.StatusUnauthorized)
}

// TestLoginRateLimit: password guessing from one address is cut off with 429, after a burst of
// authBurst attempts (the sign-up counted), and let through again at authRate.
func TestLoginRateLimit(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Now())
	ts := startServer(t, nil, clk)
	alice := ts.register(t, "alice") // one attempt
	for range authBurst - 1 {
		code, _ := ts.login(t, "alice", "guess-guess")
		is.Equal(code, http.StatusUnauthorized)
	}
	code, body := ts.login(t, "alice", alice.Password) // even the right password, now
	checkAPIError(t, code, body, http.StatusTooManyRequests)
	clk.Advance(time.Second)
	code, _ = ts.login(t, "alice", alice.Password)
	is.Equal(code, http.StatusOK)
}

// TestOrigin: the socket opens from the server's own pages (the app served with -web) and from
// -allowed-origins, and is refused (403) from any other page.
func TestOrigin(t *testing.T) {
	ts := startServer(t, []string{"-allowed-origins", "localhost:4201"}, nil)
	alice := ts.register(t, "alice")
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{ts.URL, http.StatusSwitchingProtocols},
		{"https://localhost:4201", http.StatusSwitchingProtocols}, // the app's dev server
		{"https://evil.example", http.StatusForbidden},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			c, res, err := websocket.Dial(ctx, ts.WS+"?token="+alice.Access, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {tc.origin}}})
			if c != nil {
				_ = c.Close(websocket.StatusNormalClosure, "")
			}
			if tc.want == http.StatusSwitchingProtocols {
				is.New(t).NoErr(err)
				return
			}
			is.New(t).True(err != nil)
			is.New(t).Equal(res.StatusCode, tc.want)
		})
	}
}
