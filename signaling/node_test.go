package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

const wait = 2 * time.Second

func echoNode(t *testing.T, opts *signaling.NodeOptions) *signaling.Node {
	is := is.New(t)
	n := signaling.NewNode(opts)
	is.NoErr(n.Handle("sub", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		var in struct {
			Topic string `json:"topic"`
		}
		if err := e.Bind(&in); err != nil {
			return err
		}
		if err := n.Subscribe(ctx, s.ID(), in.Topic); err != nil {
			return err
		}
		return s.Reply(ctx, e, "subscribed", in)
	}))) // the event had no handler yet
	is.NoErr(n.Handle("pub", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		var in struct {
			Topic string `json:"topic"`
			Text  string `json:"text"`
		}
		if err := e.Bind(&in); err != nil {
			return err
		}
		return n.Publish(ctx, in.Topic, signaling.Envelope{Event: "said", Data: map[string]string{"from": s.User().ID, "text": in.Text}})
	}))) // the event had no handler yet
	is.NoErr(n.Handle("panic", signaling.HandlerFunc(func(context.Context, *signaling.Session, signaling.Envelope) error {
		panic("boom")
	}))) // the event had no handler yet
	is.NoErr(n.Handle("fail", signaling.HandlerFunc(func(context.Context, *signaling.Session, signaling.Envelope) error {
		return errors.New("database on fire")
	}))) // the event had no handler yet
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

func TestSessionFrameFirst(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, nil)
	c := signalingtest.Connect(t, n, signaling.User{ID: "u1", Username: "Una"}, nil)
	f := c.Next(wait)
	is.Equal(f.Event, "session") // the first frame is session
	var info struct {
		SessionID      string `json:"sessionId"`
		User           signaling.User
		ResumeToken    string `json:"resumeToken"`
		ResumeWindowMs int64  `json:"resumeWindowMs"`
		Limits         signaling.Limits
	}
	is.NoErr(f.Bind(&info))
	is.Equal(info.User.ID, "u1")                // the authenticated user
	is.True(info.SessionID != "")               // a session id
	is.True(info.ResumeToken != "")             // a resume token
	is.Equal(info.ResumeWindowMs, int64(60000)) // default window
	is.Equal(info.Limits.MaxFrameBytes, 65536)  // default frame limit
	is.Equal(f.Seq, uint64(0))                  // session carries no seq
}

// TestHandleTwiceIsAnError: an event has one handler. A second Handle for it fails with
// ErrHandled and leaves the first handler in place; so do the names and handlers that cannot be
// registered.
func TestHandleTwiceIsAnError(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, nil) // "pub", "sub", "panic" and "fail" are handled
	second := signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		return s.Reply(ctx, e, "second", nil)
	})
	err := n.Handle("sub", second)
	is.True(errors.Is(err, signaling.ErrHandled))   // a duplicate is an error, not a silent replace
	is.True(strings.Contains(err.Error(), `"sub"`)) // the error names the event
	is.True(n.Handle("", second) != nil)            // an empty event name is refused
	is.True(n.Handle("ping", second) != nil)        // ping is the Node's own
	is.True(n.Handle("other", nil) != nil)          // a nil handler is refused
	is.NoErr(n.Handle("other", second))             // a new event is accepted

	c := signalingtest.Connect(t, n, signaling.User{ID: "u1"}, nil)
	c.Expect("session", wait)
	c.SendRef("sub", map[string]string{"topic": "t"}, "1")
	is.Equal(c.Expect("subscribed", wait).Ref, "1") // the first handler still answers
}

func TestPublishFanOutAndSeq(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, nil)
	a := signalingtest.Connect(t, n, signaling.User{ID: "a"}, nil)
	b := signalingtest.Connect(t, n, signaling.User{ID: "b"}, &signaling.SessionOptions{Codec: signaling.JSONPayload})
	for _, c := range []*signalingtest.Client{a, b} {
		c.SendRef("sub", map[string]string{"topic": "room:x"}, "r1")
		is.Equal(c.Expect("subscribed", wait).Ref, "r1") // reply echoes ref
	}
	a.Send("pub", map[string]string{"topic": "room:x", "text": "hi"})
	fa := a.Expect("said", wait)
	fb := b.Expect("said", wait)
	is.True(fa.Seq > 0)                     // replayable events carry seq
	is.True(json.Valid(fa.Raw))             // stamped frame is valid JSON
	is.True(json.Valid(fb.Raw))             // payload codec frame is valid JSON
	is.True(contains(fb.Raw, `"payload":`)) // json-payload writes payload
	is.True(!contains(fb.Raw, `"data":`))   // and not data
	var said map[string]string
	is.NoErr(fb.Bind(&said))
	is.Equal(said["from"], "a") // server-side sender
}

func TestBadInputKeepsSession(t *testing.T) {
	is := is.New(t)
	n := echoNode(t, nil)
	c := signalingtest.Connect(t, n, signaling.User{ID: "a"}, nil)
	cases := []struct {
		name  string
		frame string
		code  string
	}{
		{"not json", `{nope`, signaling.CodeBadRequest},
		{"no event", `{"data":{}}`, signaling.CodeBadRequest},
		{"unknown event", `{"event":"bogus","data":{}}`, signaling.CodeUnknownEvent},
		{"missing data", `{"event":"sub"}`, signaling.CodeBadRequest},
		{"mistyped field", `{"event":"sub","data":{"topic":5}}`, signaling.CodeBadRequest},
		{"panic", `{"event":"panic","data":{}}`, signaling.CodeInternal},
		{"plain error", `{"event":"fail","data":{},"ref":"x"}`, signaling.CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			c.SendRaw([]byte(tc.frame))
			code, _ := c.ExpectError(wait)
			is.Equal(code, tc.code) // the documented code
			c.Send("ping", map[string]string{})
			c.Expect("pong", wait) // the session still works
		})
	}
	_ = is
}

func contains(b []byte, s string) bool {
	return json.Valid(b) && len(b) >= len(s) && indexOf(string(b), s) >= 0
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
