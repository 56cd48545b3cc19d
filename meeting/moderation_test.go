package meeting_test

import (
	"testing"
	"time"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

type moderatedData struct {
	RoomID string         `json:"roomId"`
	Action string         `json:"action"`
	By     signaling.User `json:"by"`
}

type leftData struct {
	User   signaling.User `json:"user"`
	RoomID string         `json:"roomId"`
	Reason string         `json:"reason"`
}

type mediaData struct {
	RoomID string         `json:"roomId"`
	User   signaling.User `json:"user"`
	Audio  bool           `json:"audio"`
	Video  bool           `json:"video"`
	Screen bool           `json:"screen"`
	Hand   bool           `json:"hand"`
}

// meetingOf starts a meeting in r1 hosted by alice, with bob and carol joined.
func meetingOf(t *testing.T, e *env) (a, b, c *peer) {
	t.Helper()
	a, b, c = e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	join(t, c, "r1")
	flush(t, a, b, c)
	return a, b, c
}

// TestHostOnly: `moderate`, `lock_meeting`, `admit` and `deny` from anyone but the host are
// `forbidden` and change nothing.
func TestHostOnly(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := meetingOf(t, e)
	d := e.connect(dave) // a member of no room
	before := e.stored("r1")

	for _, tc := range []struct {
		who   *peer
		event string
		data  map[string]any
	}{
		{b, "moderate", map[string]any{"roomId": "r1", "userId": "carol", "action": "mute"}},
		{b, "moderate", map[string]any{"roomId": "r1", "userId": "carol", "action": "remove"}},
		{b, "moderate", map[string]any{"roomId": "r1", "userId": "alice", "action": "remove"}},
		{b, "lock_meeting", map[string]any{"roomId": "r1", "locked": true}},
		{b, "admit", map[string]any{"roomId": "r1", "userId": "erin"}},
		{b, "deny", map[string]any{"roomId": "r1", "userId": "erin"}},
		{d, "moderate", map[string]any{"roomId": "r1", "userId": "carol", "action": "mute"}},
		{d, "lock_meeting", map[string]any{"roomId": "r1", "locked": true}},
		{d, "admit", map[string]any{"roomId": "r1", "userId": "dave"}},
	} {
		tc.who.SendRef(tc.event, tc.data, "x1")
		code, f := tc.who.ExpectError(wait)
		is.Equal(code, signaling.CodeForbidden) // only the host runs the meeting
		is.Equal(f.Ref, "x1")                   // the error answers the frame
	}
	none(t, c, "moderated")                  // carol was neither muted nor removed
	none(t, a, "meeting_user_left")          // nobody left
	none(t, a, "meeting_locked")             // nothing was locked
	is.Equal(e.stored("r1"), before)         // the record is unchanged
	is.True(!e.stored("r1").Locked)          // still open
	is.Equal(len(e.stored("r1").Removed), 0) // nobody removed
}

func TestModerateBadInput(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, _, _ := meetingOf(t, e)
	for _, tc := range []struct {
		data map[string]any
		code string
	}{
		{map[string]any{"roomId": "r1", "userId": "bob", "action": "shout"}, signaling.CodeBadRequest},
		{map[string]any{"roomId": "r1", "userId": "bob"}, signaling.CodeBadRequest},
		{map[string]any{"roomId": "r1", "action": "mute"}, signaling.CodeBadRequest},
		{map[string]any{"userId": "bob", "action": "mute"}, signaling.CodeBadRequest},
		{map[string]any{"roomId": "r1", "userId": "alice", "action": "remove"}, signaling.CodeBadRequest},
		{map[string]any{"roomId": "r1", "userId": "erin", "action": "mute"}, signaling.CodeNotFound},
		{map[string]any{"roomId": "r2", "userId": "bob", "action": "mute"}, signaling.CodeNotFound},
	} {
		a.Send("moderate", tc.data)
		is.Equal(expectError(t, a), tc.code) // refused with a clear code
	}
	a.Send("lock_meeting", map[string]any{"roomId": "r1"})
	is.Equal(expectError(t, a), signaling.CodeBadRequest) // locked is required
	a.Send("admit", map[string]any{"roomId": "r1", "userId": "erin"})
	is.Equal(expectError(t, a), signaling.CodeNotFound) // erin neither waits nor was removed
	a.Send("deny", map[string]any{"roomId": "r1", "userId": "erin"})
	is.Equal(expectError(t, a), signaling.CodeNotFound) // nobody to turn away
	is.Equal(len(e.stored("r1").Participants), 3)       // nothing changed
}

// TestModerateMute: mute and stop_video reach every session of the target, and nobody else; the
// target's client answers with its own media_state.
func TestModerateMute(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := meetingOf(t, e)
	b2 := e.connect(bob) // bob's second tab, not in the call
	b.Send("media_state", map[string]any{"roomId": "r1", "audio": true, "video": true})
	settle(t, b)
	flush(t, a, c)

	for _, action := range []string{meeting.ActionMute, meeting.ActionStopVideo} {
		a.Send("moderate", map[string]any{"roomId": "r1", "userId": "bob", "action": action})
		settle(t, a)
		for _, p := range []*peer{b, b2} {
			var got moderatedData
			bindTo(t, p.Expect("moderated", wait), &got)
			is.Equal(got, moderatedData{RoomID: "r1", Action: action, By: alice}) // the target's sessions are told, and by whom
		}
		none(t, c, "moderated") // nobody else
		none(t, a, "moderated") // not the host either
	}
	st := e.stored("r1").Participant("bob")
	is.True(st.Audio && st.Video) // an ask: the state is what bob's client reports

	b.Send("media_state", map[string]any{"roomId": "r1", "audio": false, "video": false}) // bob's client obeys
	var m mediaData
	bindTo(t, c.Expect("media_state", wait), &m)
	is.True(!m.Audio && !m.Video) // the others see it
	b.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	bindTo(t, c.Expect("media_state", wait), &m)
	is.True(m.Audio) // and bob may unmute later
}

// TestRaiseHand: media_state carries hand; the host lowers it.
func TestRaiseHand(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := meetingOf(t, e)

	b.Send("media_state", map[string]any{"roomId": "r1", "hand": true})
	var m mediaData
	bindTo(t, c.Expect("media_state", wait), &m)
	is.Equal(m.User, bob) // bob's state
	is.True(m.Hand)       // with the hand up
	bindTo(t, a.Expect("media_state", wait), &m)
	is.True(m.Hand)                                 // the host sees it too
	is.True(e.stored("r1").Participant("bob").Hand) // kept in the record

	a.SendRef("get_room_info", map[string]any{"roomId": "r1"}, "i1")
	info := bindWire(t, a.Expect("room_info_response", wait))
	is.True(info.Participants[1].ID == "bob" && info.Participants[1].Hand) // a reloading client sees it

	a.Send("moderate", map[string]any{"roomId": "r1", "userId": "bob", "action": "lower_hand"})
	var md moderatedData
	bindTo(t, b.Expect("moderated", wait), &md)
	is.Equal(md.Action, meeting.ActionLowerHand) // bob is told
	bindTo(t, c.Expect("media_state", wait), &m)
	is.Equal(m.User, bob)                            // the others see bob's state
	is.True(!m.Hand)                                 // with the hand down
	is.True(!e.stored("r1").Participant("bob").Hand) // in the record too
	none(t, b, "media_state")                        // bob's own state is not echoed to him
}

// TestModerateRemove: a removed participant is out, and stays out across reloads until the host
// admits it back or the meeting ends.
func TestModerateRemove(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := meetingOf(t, e)

	a.Send("moderate", map[string]any{"roomId": "r1", "userId": "bob", "action": "remove"})
	settle(t, a)
	var md moderatedData
	bindTo(t, b.Expect("moderated", wait), &md)
	is.Equal(md, moderatedData{RoomID: "r1", Action: meeting.ActionRemove, By: alice}) // bob is told
	for _, p := range []*peer{a, c} {
		var l leftData
		bindTo(t, p.Expect("meeting_user_left", wait), &l)
		is.Equal(l, leftData{User: bob, RoomID: "r1", Reason: meeting.ReasonRemoved}) // the others see bob removed
	}
	st := e.stored("r1")
	is.Equal(ids(wireOf(st.Participants)), []string{"alice", "carol"}) // bob is out
	is.Equal(st.Removed, []signaling.User{bob})                        // and kept out

	c.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	a.Expect("media_state", wait)
	none(t, b, "media_state") // bob's session is unbound
	b.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "alice", "sdp": "v=0"})
	is.Equal(expectError(t, b), signaling.CodeForbidden) // nor can it signal

	b.Send("join_meeting", map[string]any{"roomId": "r1"})
	is.Equal(expectError(t, b), signaling.CodeForbidden) // rejoining is refused
	e.hangUp(b)
	b = e.connect(bob) // a reload: a new session
	b.Send("join_meeting", map[string]any{"roomId": "r1"})
	is.Equal(expectError(t, b), signaling.CodeForbidden) // still refused
	none(t, a, "meeting_user_joined")                    // nobody saw bob come back
	none(t, a, "knock")                                  // and the host is not asked

	a.SendRef("get_room_info", map[string]any{"roomId": "r1"}, "i1")
	var info struct {
		Removed []signaling.User `json:"removed"`
	}
	bindTo(t, a.Expect("room_info_response", wait), &info)
	is.Equal(info.Removed, []signaling.User{bob}) // the host sees whom it removed
	c.SendRef("get_room_info", map[string]any{"roomId": "r1"}, "i2")
	is.True(!contains(c.Expect("room_info_response", wait).Data, "removed")) // the others do not

	a.Send("admit", map[string]any{"roomId": "r1", "userId": "bob"}) // the host lets bob back
	settle(t, a)
	is.Equal(len(e.stored("r1").Removed), 0) // the removal is undone
	j := join(t, b, "r1")
	is.Equal(ids(j.Participants), []string{"alice", "carol", "bob"}) // bob is in again

	a.Send("moderate", map[string]any{"roomId": "r1", "userId": "bob", "action": "remove"})
	settle(t, a)
	a.Send("stop_meeting", map[string]any{"roomId": "r1"})
	settle(t, a)
	start(t, a, "r1") // a new meeting
	join(t, b, "r1")  // bob may join it: a removal ends with its meeting
}

// TestRemoveLastParticipant: removing the only other participant of a meeting the host left
// empties it, and the empty timeout ends it.
func TestRemoveLastParticipant(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	join(t, b, "r1")
	a.Send("leave_meeting", map[string]any{"roomId": "r1"})
	settle(t, a)
	a.Send("moderate", map[string]any{"roomId": "r1", "userId": "bob", "action": "remove"})
	settle(t, a)                                           // the host moderates from outside the call
	is.Equal(len(e.stored("r1").Participants), 0)          // nobody is left
	is.Equal(e.stored("r1").EmptySince, epoch.UnixMilli()) // the empty timeout counts
	e.clock.Advance(meeting.DefaultEmptyTimeout)
	var en endedData
	bindTo(t, b.Expect("meeting_ended", wait), &en)
	is.Equal(en.Reason, meeting.ReasonEmpty) // and ends it
}

// TestModerationSurvivesHostReload: the host's sessions come and go; the removal holds.
func TestModerationSurvivesHostReload(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, _ := meetingOf(t, e)
	a.Send("moderate", map[string]any{"roomId": "r1", "userId": "bob", "action": "remove"})
	settle(t, a)
	e.hangUp(a) // the host reloads: a new session
	a = e.connect(alice)
	e.clock.Advance(time.Second)
	b.Send("join_meeting", map[string]any{"roomId": "r1"})
	is.Equal(expectError(t, b), signaling.CodeForbidden) // still removed
	a.SendRef("get_room_info", map[string]any{"roomId": "r1"}, "i1")
	var info struct {
		Removed []signaling.User `json:"removed"`
	}
	bindTo(t, a.Expect("room_info_response", wait), &info)
	is.Equal(info.Removed, []signaling.User{bob}) // the new session can let bob back
}
