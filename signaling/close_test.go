package signaling_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// TestCloseDrains: the server's 1000, 1008 and 1012 closes write every frame queued before
// them, then the close frame; 100 runs each.
func TestCloseDrains(t *testing.T) {
	const frames = 50
	cases := []struct {
		name string
		code signaling.StatusCode
		// run queues the frames to c's session, then closes it.
		run func(t *testing.T, n *signaling.Node, clk *clock.Manual, c *signalingtest.Client)
	}{
		{"Session.Close(1000) after replies", signaling.StatusNormalClosure, func(t *testing.T, n *signaling.Node, _ *clock.Manual, c *signalingtest.Client) {
			c.Send("burst_close", frames)
		}},
		{"token expiry (1008) after broadcasts", signaling.StatusPolicyViolation, func(t *testing.T, n *signaling.Node, clk *clock.Manual, c *signalingtest.Client) {
			publishN(t, n, signaling.UserTopic("u1"), frames)
			clk.Advance(2 * time.Hour)
		}},
		{"Shutdown (1012) after broadcasts", signaling.StatusServiceRestart, func(t *testing.T, n *signaling.Node, _ *clock.Manual, c *signalingtest.Client) {
			publishN(t, n, signaling.UserTopic("u1"), frames)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := n.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for run := range 100 {
				is := is.New(t)
				clk := clock.NewManual(epoch)
				n := echoNode(t, &signaling.NodeOptions{Clock: clk})
				is.NoErr(n.Handle("burst_close", signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
					var k int
					if err := e.Bind(&k); err != nil {
						return err
					}
					for i := range k {
						if err := s.Send(ctx, signaling.Envelope{Event: "n", Data: i}); err != nil {
							return err
						}
					}
					s.Close(signaling.StatusNormalClosure, "bye")
					return nil
				}))) // the event had no handler yet
				c := signalingtest.Connect(t, n, signaling.User{ID: "u1"}, &signaling.SessionOptions{Expires: epoch.Add(time.Hour)})
				c.Expect("session", wait)
				tc.run(t, n, clk, c)
				is.Equal(c.ExpectClosed(wait), tc.code) // closed with the code
				got := c.Frames("n")
				is.Equal(len(got), frames) // every frame queued before the close arrived
				for i, f := range got {
					is.Equal(string(f.Data), strconv.Itoa(i)) // in order
				}
				if t.Failed() {
					t.Fatalf("run %d failed", run)
				}
			}
		})
	}
}

func publishN(t *testing.T, n *signaling.Node, topic string, k int) {
	t.Helper()
	for i := range k {
		if err := n.Publish(context.Background(), topic, signaling.Envelope{Event: "n", Data: i}); err != nil {
			t.Fatal(fmt.Errorf("publish: %w", err))
		}
	}
}
