package signaling_test

import (
	"testing"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

type sessionFrame struct {
	SessionID   string `json:"sessionId"`
	ResumeToken string `json:"resumeToken"`
	Resumed     bool   `json:"resumed"`
}

func expectSession(t *testing.T, c *signalingtest.Client) sessionFrame {
	t.Helper()
	var s sessionFrame
	if err := c.Expect("session", wait).Bind(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// resumeSetup connects alice subscribed to room:r, drops her connection, and has bob publish
// n events while she is away.
func resumeSetup(t *testing.T, opts *signaling.NodeOptions, n int) (*signaling.Node, sessionFrame, uint64) {
	t.Helper()
	node := echoNode(t, opts)
	alice := signalingtest.Connect(t, node, signaling.User{ID: "alice"}, nil)
	first := expectSession(t, alice)
	alice.Send("sub", map[string]string{"topic": "room:r"})
	alice.Expect("subscribed", wait)
	bob := signalingtest.Connect(t, node, signaling.User{ID: "bob"}, nil)
	bob.Send("sub", map[string]string{"topic": "room:r"})
	bob.Expect("subscribed", wait)
	bob.Send("pub", map[string]string{"topic": "room:r", "text": "before"})
	alice.Expect("said", wait)
	bob.Expect("said", wait)
	last := alice.LastSeq()
	alice.Close(signaling.StatusGoingAway) // a reload: the session waits for a resume
	for i := 0; i < n; i++ {
		bob.Send("pub", map[string]string{"topic": "room:r", "text": string(rune('a' + i))})
		bob.Expect("said", wait)
	}
	return node, first, last
}

func TestResumeReplaysGapInOrder(t *testing.T) {
	is := is.New(t)
	node, first, last := resumeSetup(t, nil, 3)
	alice := signalingtest.Connect(t, node, signaling.User{ID: "alice"}, &signaling.SessionOptions{ResumeToken: first.ResumeToken, LastSeq: last})
	s := expectSession(t, alice)
	is.True(s.Resumed)                     // resumed
	is.Equal(s.SessionID, first.SessionID) // same session
	for i := 0; i < 3; i++ {
		f := alice.Next(wait)
		is.Equal(f.Event, "said")         // the missed events, in order
		is.Equal(f.Seq, last+uint64(i)+1) // with consecutive seqs
		var d map[string]string
		is.NoErr(f.Bind(&d))
		is.Equal(d["text"], string(rune('a'+i))) // exactly the published ones
	}
	f := alice.Next(wait)
	is.Equal(f.Event, "resumed") // then resumed
	var r struct{ Replayed int }
	is.NoErr(f.Bind(&r))
	is.Equal(r.Replayed, 3)                        // counting the replay
	alice.ExpectNone("said", 100*time.Millisecond) // nothing twice
}

func TestResumeRefusals(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(m *clock.Manual) *signaling.NodeOptions
		present func(first sessionFrame) (signaling.User, string)
		advance time.Duration
		// want: "unauthorized" or "fresh"
		want string
	}{
		{
			name:    "garbled token",
			present: func(f sessionFrame) (signaling.User, string) { return signaling.User{ID: "alice"}, f.ResumeToken + "x" },
			want:    "unauthorized",
		},
		{
			name:    "another user's token",
			present: func(f sessionFrame) (signaling.User, string) { return signaling.User{ID: "mallory"}, f.ResumeToken },
			want:    "unauthorized",
		},
		{
			name:    "after the window",
			present: func(f sessionFrame) (signaling.User, string) { return signaling.User{ID: "alice"}, f.ResumeToken },
			advance: 61 * time.Second,
			want:    "fresh",
		},
		{
			name: "buffer over its byte bound",
			opts: func(m *clock.Manual) *signaling.NodeOptions {
				return &signaling.NodeOptions{Clock: m, ResumeBufferBytes: 10}
			},
			present: func(f sessionFrame) (signaling.User, string) { return signaling.User{ID: "alice"}, f.ResumeToken },
			want:    "fresh",
		},
		{
			name: "buffer overflowed",
			opts: func(m *clock.Manual) *signaling.NodeOptions {
				return &signaling.NodeOptions{Clock: m, ResumeBuffer: 2}
			},
			present: func(f sessionFrame) (signaling.User, string) { return signaling.User{ID: "alice"}, f.ResumeToken },
			want:    "fresh",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			m := clock.NewManual(time.Now())
			opts := &signaling.NodeOptions{Clock: m}
			if tc.opts != nil {
				opts = tc.opts(m)
			}
			node, first, last := resumeSetup(t, opts, 3)
			m.Advance(tc.advance)
			u, token := tc.present(first)
			c := signalingtest.Connect(t, node, u, &signaling.SessionOptions{ResumeToken: token, LastSeq: last})
			switch tc.want {
			case "unauthorized":
				code, _ := c.ExpectError(wait)
				is.Equal(code, signaling.CodeUnauthorized)                      // refused
				is.Equal(c.ExpectClosed(wait), signaling.StatusPolicyViolation) // and closed 1008
				is.Equal(len(c.Frames("said")), 0)                              // nobody's events delivered
			case "fresh":
				s := expectSession(t, c)
				is.True(!s.Resumed)                        // a fresh session
				is.True(s.SessionID != first.SessionID)    // with a new id
				c.ExpectNone("said", 100*time.Millisecond) // and no partial replay
			}
		})
	}
}

// Session.Close with 1000 ends the session at once: no resume window, the token starts afresh.
func TestSessionCloseNormalEndsSession(t *testing.T) {
	is := is.New(t)
	node := echoNode(t, nil)
	alice := signalingtest.Connect(t, node, signaling.User{ID: "alice"}, nil)
	first := expectSession(t, alice)
	ss := node.LocalSessions("alice")
	is.Equal(len(ss), 1) // one session
	ss[0].Close(signaling.StatusNormalClosure, "logged out")
	is.Equal(alice.ExpectClosed(wait), signaling.StatusNormalClosure)  // closed with 1000
	is.Equal(node.Session(first.SessionID), (*signaling.Session)(nil)) // and gone at once
	again := signalingtest.Connect(t, node, signaling.User{ID: "alice"}, &signaling.SessionOptions{ResumeToken: first.ResumeToken})
	s := expectSession(t, again)
	is.True(!s.Resumed) // nothing to resume
}
