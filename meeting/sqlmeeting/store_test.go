package sqlmeeting_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/internal/sqlitedb"
	"github.com/huddle-go/huddle/internal/storetest"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/meeting/sqlmeeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

const (
	wait = 2 * time.Second // bounds every expectation
)

var (
	alice = signaling.User{ID: "alice", Username: "Alice"}
	bob   = signaling.User{ID: "bob", Username: "Bob"}
	carol = signaling.User{ID: "carol", Username: "Carol"}
	epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), path, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newStore(t *testing.T, path string) *sqlmeeting.Store {
	t.Helper()
	s, err := sqlmeeting.New(context.Background(), openDB(t, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Meeting(t, func(t *testing.T) meeting.Store {
		return newStore(t, filepath.Join(t.TempDir(), "m.db"))
	})
}

func TestLeases(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	s := newStore(t, filepath.Join(t.TempDir(), "m.db"))
	ok, err := s.Acquire(ctx, "r1", "a", epoch, time.Minute)
	is.NoErr(err) // acquire
	is.True(ok)   // a free lease is taken
	ok, _ = s.Acquire(ctx, "r1", "b", epoch.Add(time.Second), time.Minute)
	is.True(!ok) // another owner's lease holds
	ok, _ = s.Acquire(ctx, "r1", "b", epoch.Add(time.Minute), time.Minute)
	is.True(ok) // a lapsed lease is taken over
	is.NoErr(s.Release(ctx, "r1", "a"))
	ok, _ = s.Acquire(ctx, "r1", "a", epoch.Add(time.Minute), time.Minute)
	is.True(!ok) // releasing a lease one does not hold changes nothing
}

// members is an in-test meeting.Members: room r1 has alice, bob and carol.
type members struct{}

var room = []signaling.User{alice, bob, carol}

func (members) IsMember(_ context.Context, roomID, userID string) (bool, error) {
	return roomID == "r1" && slices.ContainsFunc(room, func(u signaling.User) bool { return u.ID == userID }), nil
}

func (members) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	if roomID != "r1" {
		return nil, nil
	}
	return slices.Clone(room), nil
}

func (m members) Rooms(ctx context.Context, userID string) ([]string, error) {
	if ok, _ := m.IsMember(ctx, "r1", userID); ok {
		return []string{"r1"}, nil
	}
	return nil, nil
}

// server is one process of a one-node server: a Node and a meeting Service on a store opened
// on path. A "crash" is closing the Service without running any session hook of its Node.
type server struct {
	hub *signaling.Node
	svc *meeting.Service
	st  *sqlmeeting.Store
}

func start(t *testing.T, path string, clk *clock.Manual) *server {
	t.Helper()
	st := newStore(t, path)
	hub := signaling.NewNode(&signaling.NodeOptions{Clock: clk})
	hub.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionConnected { // what chat does: subscribe the member to r1
			if err := hub.Subscribe(ctx, s.ID(), chat.RoomTopic("r1")); err != nil {
				t.Errorf("subscribe: %v", err)
			}
		}
	})
	svc, err := meeting.New(hub, &meeting.Options{Store: st, Members: members{}, RoomTopic: chat.RoomTopic, Clock: clk,
		ParticipantGrace: 15 * time.Second, HostGrace: 30 * time.Second, EmptyTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{hub: hub, svc: svc, st: st}
	t.Cleanup(func() {
		svc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
	})
	return s
}

func connect(t *testing.T, s *server, u signaling.User) *signalingtest.Client {
	t.Helper()
	c := signalingtest.Connect(t, s.hub, u, nil)
	c.Expect("session", wait)
	return c
}

func settle(c *signalingtest.Client) {
	c.Send("ping", map[string]any{})
	c.Expect("pong", wait)
}

// TestEmptiedWhileDownEndsOnce: a meeting whose last participant left before the server went
// away, and whose empty timeout ran out while it was down, ends at the restart, once.
func TestEmptiedWhileDownEndsOnce(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "huddle.db")
	clk := clock.NewManual(epoch)

	first := start(t, path, clk)
	a := connect(t, first, alice)
	a.Send("start_meeting", map[string]string{"roomId": "r1"})
	a.Expect("meeting_started", wait)
	a.Send("leave_meeting", map[string]string{"roomId": "r1"})
	settle(a)
	m, err := first.st.Get(ctx, "r1")
	is.NoErr(err)                // the meeting is stored
	is.True(m.EmptySince != 0)   // and empty, its timeout running
	first.svc.Close()            // the server dies: its timers are gone
	clk.Advance(2 * time.Minute) // it stays down past the empty timeout

	second := start(t, path, clk)
	c := connect(t, second, carol)
	c.Expect("meeting_invitation", wait) // still active until the restart's timers run
	is.NoErr(second.svc.Recover(ctx))    // the restart re-derives the timers
	clk.Advance(0)                       // the empty timeout is due already
	var ended struct{ RoomID, Reason string }
	is.NoErr(c.Expect("meeting_ended", wait).Bind(&ended)) // the meeting ends
	is.Equal(ended.Reason, meeting.ReasonEmpty)            // as an empty meeting

	clk.Advance(time.Minute)       // sweeps and any stale timer
	c.ExpectQuiet("meeting_ended") // once: nothing more before a ping barrier
	_, err = second.st.Get(ctx, "r1")
	is.True(errors.Is(err, meeting.ErrNotFound)) // and is deleted
}

// TestCallSurvivesRestart: a meeting with participants survives a crash; their old sessions are
// unbound and their graces start at the restart; whoever rejoins stays, whoever does not
// leaves when the grace runs out.
func TestCallSurvivesRestart(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "huddle.db")
	clk := clock.NewManual(epoch)

	first := start(t, path, clk)
	a := connect(t, first, alice)
	b := connect(t, first, bob)
	a.Send("start_meeting", map[string]string{"roomId": "r1"})
	a.Expect("meeting_started", wait)
	b.Send("join_meeting", map[string]string{"roomId": "r1"})
	b.Expect("meeting_joined", wait)
	settle(a)
	first.svc.Close() // the server dies with both in the call

	clk.Advance(10 * time.Second)
	second := start(t, path, clk)
	is.NoErr(second.svc.Recover(ctx)) // restart
	m, err := second.st.Get(ctx, "r1")
	is.NoErr(err)       // the meeting survived
	is.True(m.Active()) // still active
	for _, p := range m.Participants {
		is.Equal(len(p.Sessions), 0)                 // the dead process's sessions are unbound
		is.Equal(p.DroppedAt, clk.Now().UnixMilli()) // the grace starts at the restart
	}
	is.Equal(m.HostAwaySince, clk.Now().UnixMilli()) // and the host grace

	b2 := connect(t, second, bob)
	b2.Expect("meeting_invitation", wait) // the catch-up invitation tells bob the call goes on
	b2.Send("join_meeting", map[string]string{"roomId": "r1"})
	b2.Expect("meeting_joined", wait) // bob rejoins

	clk.Advance(16 * time.Second) // alice's grace runs out
	var left struct {
		User signaling.User `json:"user"`
	}
	is.NoErr(b2.Expect("meeting_user_left", wait).Bind(&left)) // alice leaves the meeting
	is.Equal(left.User.ID, "alice")                            // alice, not bob
	m, err = second.st.Get(ctx, "r1")
	is.NoErr(err)                              // the meeting goes on
	is.Equal(len(m.Participants), 1)           // with bob
	is.Equal(m.Participants[0].User.ID, "bob") // bob
}
