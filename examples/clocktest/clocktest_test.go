package clocktest_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// stepClock is an embedder's own clock.Clock (not clock.Manual): time moves only in Step, which
// runs the functions that fall due, in time order, before it returns.
type stepClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []*stepTimer
}

type stepTimer struct {
	c    *stepClock
	at   time.Time
	f    func()
	done bool
}

var _ clock.Clock = (*stepClock)(nil)

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &stepTimer{c: c, at: c.now.Add(d), f: f}
	c.pending = append(c.pending, t)
	return t
}

func (t *stepTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Step moves the clock forward by d, calling each timer that falls due (also those the calls
// schedule within d).
func (c *stepClock) Step(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		live := c.pending[:0]
		for _, t := range c.pending {
			if !t.done {
				live = append(live, t)
			}
		}
		c.pending = live
		sort.SliceStable(c.pending, func(i, j int) bool { return c.pending[i].at.Before(c.pending[j].at) })
		if len(c.pending) == 0 || c.pending[0].at.After(end) {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.pending[0]
		c.pending = c.pending[1:]
		t.done = true
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

const wait = 2 * time.Second

func TestOwnClockDrivesTypingAndMeetingGrace(t *testing.T) {
	is := is.New(t)
	clk := &stepClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	node := signaling.NewNode(&signaling.NodeOptions{Clock: clk})
	t.Cleanup(func() { _ = node.Shutdown(context.Background()) })
	rooms := chat.NewMemoryStore(&chat.MemoryOptions{Clock: clk})
	svc, err := chat.New(node, &chat.Options{Store: rooms, Membership: rooms}) // the node's clock, by default
	is.NoErr(err)
	t.Cleanup(func() { _ = svc.Close() })
	meetings, err := meeting.New(node, &meeting.Options{Members: rooms, RoomTopic: chat.RoomTopic})
	is.NoErr(err)
	t.Cleanup(meetings.Close)
	dropped := make(chan string, 4)
	node.OnSession(func(_ context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionDropped {
			dropped <- s.User().ID // after the services' hooks: the grace is armed
		}
	})

	alice := signalingtest.Connect(t, node, signaling.User{ID: "alice", Username: "Alice"}, nil)
	bob := signalingtest.Connect(t, node, signaling.User{ID: "bob", Username: "Bob"}, nil)
	for _, c := range []*signalingtest.Client{alice, bob} {
		c.SendRef("join_room", map[string]string{"roomId": "r1"}, "j")
		c.Expect("room_joined", wait)
	}

	// Typing auto-stop: DefaultTypingTimeout after the last true, the server sends false.
	alice.Send("typing", map[string]any{"roomId": "r1", "isTyping": true})
	var typing struct{ IsTyping bool }
	is.NoErr(bob.Expect("typing", wait).Bind(&typing))
	is.True(typing.IsTyping) // alice types
	clk.Step(chat.DefaultTypingTimeout - time.Millisecond)
	bob.ExpectQuiet("typing") // not yet
	clk.Step(time.Millisecond)
	is.NoErr(bob.Expect("typing", wait).Bind(&typing))
	is.True(!typing.IsTyping) // stopped by the server, on our clock

	// A participant's grace: bob's connection drops; his peers see him leave only after
	// DefaultParticipantGrace.
	alice.SendRef("start_meeting", map[string]string{"roomId": "r1"}, "s")
	alice.Expect("meeting_started", wait)
	bob.SendRef("join_meeting", map[string]string{"roomId": "r1"}, "j")
	bob.Expect("meeting_joined", wait)
	alice.Expect("meeting_user_joined", wait)
	bob.Close(signaling.StatusGoingAway) // may resume: the grace starts
	select {
	case id := <-dropped:
		is.Equal(id, "bob")
	case <-time.After(wait):
		t.Fatal("bob's drop was not handled")
	}
	clk.Step(meeting.DefaultParticipantGrace - time.Millisecond)
	alice.ExpectQuiet("meeting_user_left") // within the grace nothing shows
	clk.Step(time.Millisecond)
	var left struct {
		User signaling.User `json:"user"`
	}
	is.NoErr(alice.Expect("meeting_user_left", wait).Bind(&left))
	is.Equal(left.User.ID, "bob") // the grace ran out on our clock
}
