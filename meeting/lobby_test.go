package meeting_test

import (
	"fmt"
	"testing"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

type knockData struct {
	RoomID string         `json:"roomId"`
	User   signaling.User `json:"user"`
}

type resolvedData struct {
	RoomID  string         `json:"roomId"`
	User    signaling.User `json:"user"`
	Outcome string         `json:"outcome"`
}

type lockedData struct {
	RoomID string `json:"roomId"`
	Locked bool   `json:"locked"`
}

// lock makes host lock (or unlock) the meeting of r1.
func lock(t *testing.T, host *peer, locked bool) {
	t.Helper()
	host.Send("lock_meeting", map[string]any{"roomId": "r1", "locked": locked})
	settle(t, host)
}

// knock makes p send join_meeting to the locked meeting of r1 and waits for `knocking`.
func knock(t *testing.T, p *peer) {
	t.Helper()
	is := is.New(t)
	p.SendRef("join_meeting", map[string]any{"roomId": "r1"}, "k1")
	f := p.Expect("knocking", wait)
	var k struct {
		RoomID string `json:"roomId"`
	}
	bindTo(t, f, &k)
	is.Equal(k.RoomID, "r1") // knocking at r1
	is.Equal(f.Ref, "k1")    // the answer to the join
	settle(t, p)
}

func expectKnock(t *testing.T, host *peer, u signaling.User) {
	t.Helper()
	is := is.New(t)
	var k knockData
	bindTo(t, host.Expect("knock", wait), &k)
	is.Equal(k, knockData{RoomID: "r1", User: u}) // the host is asked about u
}

func expectResolved(t *testing.T, host *peer, u signaling.User, outcome string) {
	t.Helper()
	is := is.New(t)
	var r resolvedData
	bindTo(t, host.Expect("knock_resolved", wait), &r)
	is.Equal(r, resolvedData{RoomID: "r1", User: u, Outcome: outcome}) // the host's tabs drop the knock
}

// TestLockKnockAdmit: on a locked meeting a newcomer knocks, sees nothing of the meeting while it
// waits, and joins when the host admits it.
func TestLockKnockAdmit(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	a2 := e.connect(alice) // the host's second tab, not in the call
	start(t, a, "r1")
	join(t, b, "r1")
	flush(t, a, b, a2)

	lock(t, a, true)
	for _, p := range []*peer{a, b} {
		var l lockedData
		bindTo(t, p.Expect("meeting_locked", wait), &l)
		is.Equal(l, lockedData{RoomID: "r1", Locked: true}) // the participants see the lock
	}
	is.True(e.stored("r1").Locked) // in the record

	c := e.connect(carol)
	c.Drain()
	knock(t, c)
	expectKnock(t, a, carol)
	expectKnock(t, a2, carol) // every tab of the host
	none(t, b, "knock")       // the host decides, not the participants
	none(t, c, "meeting_joined")
	st := e.stored("r1")
	is.True(st.Participant("carol") == nil)              // carol waits outside
	is.Equal(len(st.Knocks), 1)                          // her knock is stored
	is.Equal(st.Knocks[0].Sessions, []string{c.session}) // with her session
	b.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	a.Expect("media_state", wait)
	none(t, c, "media_state") // a knocker hears nothing of the meeting
	c.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "alice", "sdp": "v=0"})
	is.Equal(expectError(t, c), signaling.CodeForbidden) // nor signals into it

	a.SendRef("get_room_info", map[string]any{"roomId": "r1"}, "i1")
	var info struct {
		Locked bool             `json:"locked"`
		Knocks []signaling.User `json:"knocks"`
	}
	bindTo(t, a.Expect("room_info_response", wait), &info)
	is.True(info.Locked)                           // the meeting is locked
	is.Equal(info.Knocks, []signaling.User{carol}) // the host sees who waits

	a.Send("admit", map[string]any{"roomId": "r1", "userId": "carol"})
	var j joinedData
	bindTo(t, c.Expect("meeting_joined", wait), &j)
	is.Equal(j.RoomID, "r1")                                         // carol joined
	is.Equal(ids(j.Participants), []string{"alice", "bob", "carol"}) // after the others
	is.True(j.Locked)                                                // and knows the meeting is locked
	for _, p := range []*peer{a, b} {
		var u userData
		bindTo(t, p.Expect("meeting_user_joined", wait), &u)
		is.Equal(u.User, carol) // those who joined before offer to her
	}
	expectResolved(t, a, carol, meeting.KnockAdmitted)
	expectResolved(t, a2, carol, meeting.KnockAdmitted)
	st = e.stored("r1")
	is.Equal(st.Participant("carol").Sessions, []string{c.session}) // the knocking session is bound
	is.Equal(len(st.Knocks), 0)                                     // nobody waits

	c.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "alice", "sdp": "v=0"})
	var sig meeting.Signal
	bindTo(t, a.Expect("video-signal", wait), &sig)
	is.Equal(sig.SenderID, "carol") // carol signals as a participant
	b.Send("media_state", map[string]any{"roomId": "r1", "video": true})
	c.Expect("media_state", wait) // and hears the meeting

	e.drop(c)                                                   // her connection drops: the grace starts as for any bound session
	is.True(e.stored("r1").Participant("carol").DroppedAt != 0) // the drop is recorded
}

// TestLockDeny: a denied knocker is told `forbidden` and stays out.
func TestLockDeny(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, c := e.connect(alice), e.connect(carol)
	start(t, a, "r1")
	lock(t, a, true)
	knock(t, c)
	expectKnock(t, a, carol)

	a.Send("deny", map[string]any{"roomId": "r1", "userId": "carol"})
	code, f := c.ExpectError(wait)
	is.Equal(code, signaling.CodeForbidden) // carol is turned away
	var refusal struct {
		Event  string `json:"event"`
		RoomID string `json:"roomId"`
	}
	bindTo(t, f, &refusal)
	is.Equal(refusal.Event, "join_meeting") // her join is refused
	is.Equal(refusal.RoomID, "r1")          // at this room
	expectResolved(t, a, carol, meeting.KnockDenied)
	st := e.stored("r1")
	is.True(st.Participant("carol") == nil) // she is not in
	is.Equal(len(st.Knocks), 0)             // nor waiting
	none(t, c, "meeting_joined")

	a.Send("deny", map[string]any{"roomId": "r1", "userId": "carol"})
	is.Equal(expectError(t, a), signaling.CodeNotFound) // nobody waits any more
	knock(t, c)                                         // she may knock again
	expectKnock(t, a, carol)
}

// TestLockLetsMembersBackIn: the host and the participants are never stopped by the lock.
func TestLockLetsMembersBackIn(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	join(t, b, "r1")
	lock(t, a, true)

	e.hangUp(b) // bob reloads: his participant is in its grace
	b = e.connect(bob)
	j := join(t, b, "r1")
	is.Equal(ids(j.Participants), []string{"alice", "bob"}) // a participant comes back without knocking

	a.Send("leave_meeting", map[string]any{"roomId": "r1"})
	settle(t, a)
	j = join(t, a, "r1")
	is.True(j.Locked)                                       // the host comes back through its own lock
	is.Equal(ids(j.Participants), []string{"bob", "alice"}) // and is in
	none(t, a, "knock")                                     // nobody knocked
}

// TestKnockWithdrawn: a knocker that ends its session or leaves stops waiting; one whose
// connection flickers keeps waiting, and is admitted on its resumed session.
func TestKnockWithdrawn(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, c, d := e.connect(alice), e.connect(carol), e.connect(erin)
	start(t, a, "r1")
	lock(t, a, true)

	knock(t, c)
	expectKnock(t, a, carol)
	e.hangUp(c)
	expectResolved(t, a, carol, meeting.KnockWithdrawn)
	is.Equal(len(e.stored("r1").Knocks), 0) // the knock of an ended session is gone

	knock(t, d)
	expectKnock(t, a, erin)
	d.Send("leave_meeting", map[string]any{"roomId": "r1"})
	settle(t, d)
	expectResolved(t, a, erin, meeting.KnockWithdrawn)
	is.Equal(len(e.stored("r1").Knocks), 0) // leaving withdraws it

	c = e.connect(carol)
	knock(t, c)
	expectKnock(t, a, carol)
	e.drop(c)
	none(t, a, "knock_resolved")            // a flicker withdraws nothing
	is.Equal(len(e.stored("r1").Knocks), 1) // she still waits
	c = e.resume(c)
	is.Equal(len(e.stored("r1").Knocks), 1) // still, after the resume

	a.Send("admit", map[string]any{"roomId": "r1", "userId": "carol"})
	var j joinedData
	bindTo(t, c.Expect("meeting_joined", wait), &j)
	is.Equal(ids(j.Participants), []string{"alice", "carol"}) // the resumed session joins
}

// TestLockedHostReload: a host who reloads keeps the lock and the pending knocks, and answers
// them from its new session.
func TestLockedHostReload(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, c := e.connect(alice), e.connect(carol)
	start(t, a, "r1")
	lock(t, a, true)
	knock(t, c)
	expectKnock(t, a, carol)

	e.hangUp(a) // a reload: this session ends, a new one starts
	a = e.connect(alice)
	expectKnock(t, a, carol) // the new session is asked again, at its start
	a.SendRef("get_room_info", map[string]any{"roomId": "r1"}, "i1")
	info := bindWire(t, a.Expect("room_info_response", wait))
	is.True(info.Locked) // still locked
	j := join(t, a, "r1")
	is.True(j.Locked) // the host's rejoin says so too

	a.Send("admit", map[string]any{"roomId": "r1", "userId": "carol"})
	c.Expect("meeting_joined", wait) // carol is let in by the new session
}

// TestUnlockAdmitsWaiting: unlocking lets everyone waiting in, as room allows.
func TestUnlockAdmitsWaiting(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, &meeting.Options{MaxParticipants: 2})
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	lock(t, a, true)
	knock(t, b)
	knock(t, c)
	flush(t, a)

	lock(t, a, false)
	var l lockedData
	bindTo(t, a.Expect("meeting_locked", wait), &l)
	is.True(!l.Locked) // unlocked
	var j joinedData
	bindTo(t, b.Expect("meeting_joined", wait), &j)
	is.Equal(ids(j.Participants), []string{"alice", "bob"}) // the first to knock is in
	none(t, c, "meeting_joined")                            // the meeting is full
	st := e.stored("r1")
	is.Equal(len(st.Knocks), 1)        // carol keeps waiting
	is.Equal(st.Knocks[0].User, carol) // for the host
	a.Send("admit", map[string]any{"roomId": "r1", "userId": "carol"})
	is.Equal(expectError(t, a), signaling.CodeMeetingFull) // no room for her yet
	is.Equal(len(e.stored("r1").Knocks), 1)                // she still waits
}

// TestRemovedCannotKnock: a removed user is refused even at a locked meeting, and the host is not
// bothered.
func TestRemovedCannotKnock(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, _ := meetingOf(t, e)
	a.Send("moderate", map[string]any{"roomId": "r1", "userId": "bob", "action": "remove"})
	lock(t, a, true)
	b.Send("join_meeting", map[string]any{"roomId": "r1"})
	is.Equal(expectError(t, b), signaling.CodeForbidden) // refused
	none(t, b, "knocking")                               // without knocking
	none(t, a, "knock")                                  // the host is not asked
}

// TestLobbyAfterHostTransfer: a new host answers the knocks its predecessor left.
func TestLobbyAfterHostTransfer(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, &meeting.Options{HostPolicy: meeting.HostTransfer})
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	lock(t, a, true)
	knock(t, c)
	expectKnock(t, a, carol)
	none(t, b, "knock") // bob is no host yet

	e.drop(a)
	e.clock.Advance(meeting.DefaultHostGrace)
	b.Expect("meeting_host_changed", wait)
	expectKnock(t, b, carol) // the new host is asked
	b.Send("admit", map[string]any{"roomId": "r1", "userId": "carol"})
	var j joinedData
	bindTo(t, c.Expect("meeting_joined", wait), &j)
	is.Equal(ids(j.Participants), []string{"bob", "carol"}) // and lets carol in
}

// TestLobbyBounded: a meeting keeps at most 64 users waiting; the next is told `meeting_full`.
func TestLobbyBounded(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a := e.connect(alice)
	start(t, a, "r1")
	lock(t, a, true)
	const limit = 64
	for i := range limit + 1 {
		u := signaling.User{ID: fmt.Sprintf("guest%02d", i), Username: fmt.Sprintf("Guest %d", i)}
		e.members.add("r1", u)
		p := e.connect(u)
		p.Send("join_meeting", map[string]any{"roomId": "r1"})
		if i < limit {
			p.Expect("knocking", wait) // waits
			continue
		}
		is.Equal(expectError(t, p), signaling.CodeMeetingFull) // one too many
	}
	is.Equal(len(e.stored("r1").Knocks), limit) // the lobby did not grow past its bound
}
