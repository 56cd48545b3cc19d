package chat_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// typingRoom sets up alice (two tabs) and bob in room r1, with typing on a manual clock.
func typingRoom(t *testing.T) (clk *clock.Manual, svc *chat.Service, alice1, alice2, bob *signalingtest.Client) {
	t.Helper()
	clk, svc, alice1, alice2, bob, _ = typingRoomEnds(t)
	return clk, svc, alice1, alice2, bob
}

// typingRoomEnds is typingRoom, also returning the drops and ends of sessions, each sent after
// the chat service's hook for it has run.
func typingRoomEnds(t *testing.T) (clk *clock.Manual, svc *chat.Service, alice1, alice2, bob *signalingtest.Client, ends <-chan signaling.SessionEvent) {
	t.Helper()
	clk = clock.NewManual(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	n, svc := setup(t, &chat.Options{Clock: clk})
	ch := make(chan signaling.SessionEvent, 16)
	n.OnSession(func(_ context.Context, _ *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionDropped || ev == signaling.SessionGone {
			ch <- ev
		}
	})
	alice1, alice2, bob = connect(t, n, "alice"), connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice1, "r1")
	join(t, bob, "r1")
	return clk, svc, alice1, alice2, bob, ch
}

// ended waits for a session's drop or end to have been handled.
func ended(t *testing.T, ends <-chan signaling.SessionEvent, want signaling.SessionEvent) {
	t.Helper()
	select {
	case ev := <-ends:
		if ev != want {
			t.Fatalf("session event %v, want %v", ev, want)
		}
	case <-time.After(wait):
		t.Fatalf("no %v hook within %v", want, wait)
	}
}

func typing(c *signalingtest.Client, on bool) {
	c.Send("typing", map[string]any{"roomId": "r1", "isTyping": on})
}

func TestTypingGoesToOtherUsersOnly(t *testing.T) {
	is := is.New(t)
	clk, _, alice1, alice2, bob := typingRoom(t)
	typing(alice1, true)
	e, f := expectTyping(t, bob)
	is.Equal(e, typingEvent{RoomID: "r1", User: userOf("alice"), IsTyping: true}) // who types where
	is.Equal(f.Seq, uint64(0))                                                    // typing is ephemeral: no seq
	alice1.ExpectQuiet("typing")                                                  // not echoed to the typer
	alice2.ExpectQuiet("typing")                                                  // nor to the typer's other tab

	bob.Send("get_history", map[string]string{"roomId": "r1"})
	h, _ := expectHistory(t, bob)
	is.Equal(len(h.Messages), 0) // typing is not persisted

	typing(alice1, false)
	e, _ = expectTyping(t, bob)
	is.True(!e.IsTyping) // a false is forwarded at once
	typing(alice1, false)
	barrier(t, alice1)
	bob.ExpectQuiet("typing") // a false when not typing is not forwarded
	clk.Advance(time.Minute)
	is.Equal(clk.Pending(), 0) // no timer is left behind
}

func TestTypingNonMemberGetsNothing(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	n, _ := setup(t, &chat.Options{Clock: clk})
	alice, bob, carol := connect(t, n, "alice"), connect(t, n, "bob"), connect(t, n, "carol")
	join(t, alice, "r1")
	join(t, bob, "r1")
	join(t, carol, "r2")
	typing(alice, true)
	e, _ := expectTyping(t, bob)
	is.True(e.IsTyping)         // the member is told
	carol.ExpectQuiet("typing") // a non-member is not
}

func TestTypingThrottle(t *testing.T) {
	is := is.New(t)
	clk, _, alice1, _, bob := typingRoom(t)

	typing(alice1, true)
	e, _ := expectTyping(t, bob)
	is.True(e.IsTyping) // the first true goes at once
	typing(alice1, true)
	typing(alice1, true)
	barrier(t, alice1)
	bob.ExpectQuiet("typing") // a true while shown is not repeated

	typing(alice1, false)
	e, _ = expectTyping(t, bob)
	is.True(!e.IsTyping) // a false goes at once
	typing(alice1, true)
	barrier(t, alice1)
	bob.ExpectQuiet("typing") // a true within a second of the last one waits
	clk.Advance(999 * time.Millisecond)
	bob.ExpectQuiet("typing") // until the second is over
	clk.Advance(time.Millisecond)
	e, _ = expectTyping(t, bob)
	is.True(e.IsTyping) // then it goes

	typing(alice1, false)
	e, _ = expectTyping(t, bob)
	is.True(!e.IsTyping) // a false goes at once, throttled or not
	typing(alice1, true)
	typing(alice1, false)
	barrier(t, alice1)
	clk.Advance(time.Second)
	bob.ExpectQuiet("typing") // a held true that a false cancelled never goes

	clk.Advance(time.Minute)
	is.Equal(clk.Pending(), 0) // no timer is left behind
}

func TestTypingTimesOut(t *testing.T) {
	is := is.New(t)
	clk, _, alice1, _, bob := typingRoom(t)
	typing(alice1, true)
	e, _ := expectTyping(t, bob)
	is.True(e.IsTyping) // started
	clk.Advance(5 * time.Second)
	typing(alice1, true) // still typing: the timeout starts again
	barrier(t, alice1)
	clk.Advance(5 * time.Second)
	bob.ExpectQuiet("typing") // 5 s after the last true: still typing
	clk.Advance(time.Second)
	e, _ = expectTyping(t, bob)
	is.Equal(e, typingEvent{RoomID: "r1", User: userOf("alice"), IsTyping: false}) // 6 s quiet: the server stops it
	clk.Advance(time.Minute)
	is.Equal(clk.Pending(), 0) // no timer is left behind
}

func TestTypingStops(t *testing.T) {
	t.Run("OnMessage", func(t *testing.T) {
		is := is.New(t)
		clk, _, alice1, _, bob := typingRoom(t)
		typing(alice1, true)
		expectTyping(t, bob)
		say(alice1, "r1", "done typing")
		m, _ := expectMessage(t, bob)
		is.Equal(m.Content, "done typing") // the message
		e, _ := expectTyping(t, bob)
		is.True(!e.IsTyping) // ends the typing
		barrier(t, alice1)
		clk.Advance(time.Minute)
		bob.ExpectQuiet("typing")  // and the timeout sends no second false
		is.Equal(clk.Pending(), 0) // no timer is left behind
	})
	t.Run("OnLeave", func(t *testing.T) {
		is := is.New(t)
		clk, _, alice1, _, bob := typingRoom(t)
		typing(alice1, true)
		expectTyping(t, bob)
		alice1.Send("leave_room", map[string]string{"roomId": "r1"})
		e, _ := expectTyping(t, bob)
		is.True(!e.IsTyping) // leaving ends the typing
		barrier(t, alice1)
		clk.Advance(time.Minute)
		is.Equal(clk.Pending(), 0) // no timer is left behind
	})
	t.Run("OnSessionGone", func(t *testing.T) {
		is := is.New(t)
		clk, _, alice1, alice2, bob, ends := typingRoomEnds(t)
		typing(alice1, true)
		expectTyping(t, bob)
		alice2.Close(signaling.StatusNormalClosure)
		ended(t, ends, signaling.SessionGone)
		bob.ExpectQuiet("typing") // another tab going away changes nothing
		alice1.Close(signaling.StatusNormalClosure)
		e, _ := expectTyping(t, bob)
		is.Equal(e, typingEvent{RoomID: "r1", User: userOf("alice"), IsTyping: false}) // the typing tab is gone
		ended(t, ends, signaling.SessionGone)                                          // its hook has armed its last timer
		clk.Advance(time.Minute)
		is.Equal(clk.Pending(), 0) // no timer is left behind
	})
	t.Run("OnSessionDropped", func(t *testing.T) {
		is := is.New(t)
		clk, _, alice1, _, bob, ends := typingRoomEnds(t)
		typing(alice1, true)
		expectTyping(t, bob)
		alice1.Close(signaling.StatusGoingAway) // a flicker: the session waits for a resume
		e, _ := expectTyping(t, bob)
		is.True(!e.IsTyping) // a disconnected user is not typing
		ended(t, ends, signaling.SessionDropped)
		clk.Advance(time.Minute)
		is.Equal(clk.Pending(), 0) // no timer is left behind
	})
}

// stallHub holds every `typing` publish while stalling is set, until release is closed.
type stallHub struct {
	*signaling.Node
	stalling atomic.Bool
	entered  chan struct{}
	release  chan struct{}
}

func (h *stallHub) Publish(ctx context.Context, topic string, e signaling.Envelope, opts ...signaling.PublishOption) error {
	if e.Event == "typing" && h.stalling.Load() {
		h.entered <- struct{}{}
		<-h.release
	}
	return h.Node.Publish(ctx, topic, e, opts...)
}

// A stalled publish of one indicator holds no lock: the typer's next event is handled at once,
// and the indicators still go out in the order they were decided.
func TestTypingPublishesUnderNoLock(t *testing.T) {
	is := is.New(t)
	clk := clock.NewManual(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	n := newNode(t, nil)
	hub := &stallHub{Node: n, entered: make(chan struct{}, 1), release: make(chan struct{})}
	newService(t, hub, &chat.Options{Clock: clk})
	alice1, alice2, bob := connect(t, n, "alice"), connect(t, n, "alice"), connect(t, n, "bob")
	join(t, alice1, "r1")
	join(t, bob, "r1")

	hub.stalling.Store(true)
	typing(alice1, true)
	select {
	case <-hub.entered: // alice's true is being published, and stays stuck there
	case <-time.After(wait):
		t.Fatal("the typing publish never started")
	}
	typing(alice2, false)
	barrier(t, alice2) // answered while the publish is stuck: it holds no lock alice2 needs
	bob.ExpectQuiet("typing")

	close(hub.release)
	e, _ := expectTyping(t, bob)
	is.True(e.IsTyping) // then the true
	e, _ = expectTyping(t, bob)
	is.True(!e.IsTyping) // and the false, in the order decided
	barrier(t, alice1)
	bob.ExpectQuiet("typing")
}
