package meeting_test

import (
	"testing"
	"time"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

// resumeWindow is the Node's default: a dropped session's expiry timer runs this long.
const resumeWindow = 60 * time.Second

func TestParticipantGraceResume(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	join(t, b, "r1")
	flush(t, a, b)

	e.drop(b) // a network flicker
	p := e.stored("r1").Participant("bob")
	is.Equal(len(p.Sessions), 0)             // bob has no connected session
	is.Equal(p.Dropped, []string{b.session}) // the dropped one may come back
	is.Equal(p.DroppedAt, epoch.UnixMilli()) // the grace counts from now
	e.clock.Advance(10 * time.Second)
	b = e.resume(b)
	p = e.stored("r1").Participant("bob")
	is.Equal(p.Sessions, []string{b.session}) // bound again
	is.Equal(p.DroppedAt, int64(0))           // no grace running
	e.clock.Advance(2 * meeting.DefaultParticipantGrace)
	none(t, a, "meeting_user_left")   // peers saw nothing
	none(t, a, "meeting_user_joined") // nothing at all

	a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": "v=0"})
	b.Expect("video-signal", wait) // the resumed session kept its binding
}

func TestParticipantGraceExpires(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	join(t, c, "r1")
	flush(t, a, c)

	e.drop(b)
	e.clock.Advance(meeting.DefaultParticipantGrace - time.Millisecond)
	none(t, a, "meeting_user_left") // still within the grace
	e.clock.Advance(time.Millisecond)
	var ul userData
	for _, p := range []*peer{a, c} {
		bindTo(t, p.Expect("meeting_user_left", wait), &ul)
		is.Equal(ul, userData{User: bob, RoomID: "r1"}) // past the grace the others see bob go
	}
	is.Equal(ids(wireOf(e.stored("r1").Participants)), []string{"alice", "carol"}) // removed

	// A resume after the grace replays what peers saw, and the binding is gone.
	b = e.resume(b)
	bindTo(t, b.Expect("meeting_user_left", wait), &ul)
	is.Equal(ul.User, bob) // its own meeting_user_left, in the replay
	a.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	c.Expect("media_state", wait)
	none(t, b, "media_state") // no longer bound
	join(t, b, "r1")
	bindTo(t, a.Expect("meeting_user_joined", wait), &ul)
	is.True(!ul.Rejoin) // a new participant, so no rejoin
}

func TestReloadWithinGrace(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	join(t, b, "r1")
	flush(t, a)

	e.drop(b) // F5: the page goes away without a resume
	e.clock.Advance(5 * time.Second)
	b2 := e.connect(bob) // the reloaded page
	b2.Send("get_room_info", "r1")
	b2.Expect("room_info_response", wait)
	join(t, b2, "r1")
	var uj userData
	bindTo(t, a.Expect("meeting_user_joined", wait), &uj)
	is.Equal(uj.User, bob) // peers are asked to connect again
	is.True(uj.Rejoin)     // as a rejoin: drop the old connection

	e.clock.Advance(resumeWindow) // the grace and the old session's resume window pass
	e.waitEvent(b.session, signaling.SessionGone)
	none(t, a, "meeting_user_left") // a reload within the grace shows no leave
	p := e.stored("r1").Participant("bob")
	is.Equal(p.Sessions, []string{b2.session}) // the new session is bound
	is.Equal(len(p.Dropped), 0)                // the old one is forgotten
	is.Equal(e.clock.Pending(), 0)             // no timer is left
}

func TestHangUpStartsGrace(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	join(t, b, "r1")
	e.hangUp(b) // a clean close ends the session at once
	none(t, a, "meeting_user_left")
	e.clock.Advance(meeting.DefaultParticipantGrace)
	var ul userData
	bindTo(t, a.Expect("meeting_user_left", wait), &ul)
	is.Equal(ul.User, bob)         // the grace applies to ended sessions too
	is.Equal(e.clock.Pending(), 0) // no timer is left
}

func TestHostGrace(t *testing.T) {
	is := is.New(t)
	is.True(meeting.DefaultParticipantGrace < meeting.DefaultHostGrace) // below, the host's participant grace runs out first

	t.Run("End", func(t *testing.T) {
		is := is.New(t)
		e := newEnv(t, nil)
		a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
		start(t, a, "r1")
		join(t, b, "r1")
		flush(t, b, c)
		e.drop(a)
		is.Equal(e.stored("r1").HostAwaySince, epoch.UnixMilli()) // the host grace started
		e.clock.Advance(meeting.DefaultParticipantGrace)
		var ul userData
		bindTo(t, b.Expect("meeting_user_left", wait), &ul)
		is.Equal(ul.User, alice) // the host's participant grace ran out first
		is.True(!e.gone("r1"))   // the meeting goes on
		e.clock.Advance(meeting.DefaultHostGrace - meeting.DefaultParticipantGrace)
		for _, p := range []*peer{b, c} {
			var en endedData
			bindTo(t, p.Expect("meeting_ended", wait), &en)
			is.Equal(en, endedData{RoomID: "r1", Reason: meeting.ReasonHostLeft})                      // ended: the host left
			is.Equal(bindWire(t, p.Expect("meeting_invitation", wait)).Status, meeting.StatusInactive) // invitation revoked
		}
		is.True(e.gone("r1")) // deleted
		e.clock.Advance(resumeWindow)
		e.waitEvent(a.session, signaling.SessionGone)
		is.Equal(e.clock.Pending(), 0) // no timer is left
	})

	t.Run("ResumeWithinGrace", func(t *testing.T) {
		is := is.New(t)
		e := newEnv(t, nil)
		a, b := e.connect(alice), e.connect(bob)
		start(t, a, "r1")
		join(t, b, "r1")
		e.drop(a)
		e.clock.Advance(10 * time.Second)
		a = e.resume(a)
		is.Equal(e.stored("r1").HostAwaySince, int64(0)) // the host is back
		e.clock.Advance(2 * meeting.DefaultHostGrace)
		none(t, b, "meeting_ended")     // nothing ends
		none(t, a, "meeting_ended")     // not for the resumed host either
		none(t, b, "meeting_user_left") // nobody left
		is.Equal(e.clock.Pending(), 0)  // no timer is left
	})

	t.Run("Transfer", func(t *testing.T) {
		is := is.New(t)
		e := newEnv(t, &meeting.Options{HostPolicy: meeting.HostTransfer})
		a, b, c, er := e.connect(alice), e.connect(bob), e.connect(carol), e.connect(erin)
		start(t, a, "r1")
		join(t, b, "r1")
		join(t, c, "r1")
		e.drop(a)
		e.clock.Advance(meeting.DefaultHostGrace)
		var hc struct {
			RoomID string         `json:"roomId"`
			Host   signaling.User `json:"host"`
		}
		for _, p := range []*peer{b, c} {
			p.Expect("meeting_user_left", wait) // the old host's participant grace ran out first
		}
		for _, p := range []*peer{b, c, er} {
			bindTo(t, p.Expect("meeting_host_changed", wait), &hc)
			is.Equal(hc.RoomID, "r1") // participants and members learn
			is.Equal(hc.Host, bob)    // the oldest remaining participant hosts
		}
		none(t, b, "meeting_ended") // the meeting goes on
		st := e.stored("r1")
		is.Equal(st.Host, bob)               // stored
		is.Equal(st.HostAwaySince, int64(0)) // and present
		c.Send("stop_meeting", map[string]string{"roomId": "r1"})
		is.Equal(expectError(t, c), signaling.CodeForbidden) // carol is not the host
		b.Send("stop_meeting", map[string]string{"roomId": "r1"})
		c.Expect("meeting_ended", wait) // bob is
		e.clock.Advance(resumeWindow)
		is.Equal(e.clock.Pending(), 0) // no timer is left
	})

	t.Run("Continue", func(t *testing.T) {
		is := is.New(t)
		e := newEnv(t, &meeting.Options{HostPolicy: meeting.HostContinue})
		a, b := e.connect(alice), e.connect(bob)
		start(t, a, "r1")
		join(t, b, "r1")
		e.drop(a)
		e.clock.Advance(meeting.DefaultHostGrace)
		b.Expect("meeting_user_left", wait)
		none(t, b, "meeting_ended")        // the meeting goes on without its host
		none(t, b, "meeting_host_changed") // with the same host
		st := e.stored("r1")
		is.Equal(st.Host, alice)             // alice still hosts
		is.Equal(st.HostAwaySince, int64(0)) // and the policy has been applied
		a2 := e.connect(alice)
		a2.Send("stop_meeting", map[string]string{"roomId": "r1"})
		var en endedData
		bindTo(t, b.Expect("meeting_ended", wait), &en)
		is.Equal(en.Reason, meeting.ReasonStopped) // the host can still stop it
	})
}

func TestHostLeaveStartsNoHostGrace(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	flush(t, b, c)

	a.Send("leave_meeting", map[string]string{"roomId": "r1"})
	b.Expect("meeting_user_left", wait)
	st := e.stored("r1")
	is.Equal(st.Host, alice)             // the host stays host
	is.Equal(st.HostAwaySince, int64(0)) // no host grace
	is.Equal(e.clock.Pending(), 0)       // no timer at all
	e.hangUp(a)
	e.clock.Advance(2 * meeting.DefaultHostGrace)
	none(t, b, "meeting_ended") // the meeting goes on

	b.Send("leave_meeting", map[string]string{"roomId": "r1"})
	settle(t, b)
	is.Equal(e.stored("r1").EmptySince, e.clock.Now().UnixMilli()) // empty now
	e.clock.Advance(meeting.DefaultEmptyTimeout - time.Millisecond)
	none(t, b, "meeting_ended") // not yet
	e.clock.Advance(time.Millisecond)
	for _, p := range []*peer{b, c} {
		var en endedData
		bindTo(t, p.Expect("meeting_ended", wait), &en)
		is.Equal(en, endedData{RoomID: "r1", Reason: meeting.ReasonEmpty})                         // ended: empty
		is.Equal(bindWire(t, p.Expect("meeting_invitation", wait)).Status, meeting.StatusInactive) // revoked
	}
	is.True(e.gone("r1"))          // deleted
	is.Equal(e.clock.Pending(), 0) // no timer is left
}

func TestEmptyTimeoutCancelledByJoin(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, &meeting.Options{EmptyTimeout: 10 * time.Second})
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	a.Send("leave_meeting", map[string]string{"roomId": "r1"})
	settle(t, a)
	is.Equal(e.clock.Pending(), 1) // the empty timeout
	e.clock.Advance(5 * time.Second)
	join(t, b, "r1")
	is.Equal(e.clock.Pending(), 0)                // cancelled by the join
	is.Equal(e.stored("r1").EmptySince, int64(0)) // not empty any more
	e.clock.Advance(time.Minute)
	none(t, b, "meeting_ended") // still running
}

func TestGraceOptions(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, &meeting.Options{ParticipantGrace: 2 * time.Second, HostGrace: 3 * time.Second})
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	join(t, b, "r1")
	e.drop(b)
	e.clock.Advance(2 * time.Second)
	b2 := e.connect(bob)
	a.Expect("meeting_user_left", wait) // the configured participant grace
	e.drop(a)
	e.clock.Advance(3 * time.Second)
	var en endedData
	bindTo(t, b2.Expect("meeting_ended", wait), &en)
	is.Equal(en.Reason, meeting.ReasonHostLeft) // the configured host grace
}

func TestCloseStopsTimers(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	join(t, b, "r1")
	e.drop(b)
	is.Equal(e.clock.Pending(), 2) // bob's grace and the node's resume window
	e.svc.Close()
	e.svc.Close()
	is.Equal(e.clock.Pending(), 1) // Close stopped the grace (Close is idempotent)
	e.clock.Advance(time.Minute)
	none(t, a, "meeting_user_left") // nothing fires after Close
	a.Send("start_meeting", map[string]string{"roomId": "r2"})
	is.Equal(expectError(t, a), signaling.CodeUnavailable) // a closed service answers unavailable
}
