package meeting_test

import (
	"strings"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

func TestStartMeeting(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a1, a2 := e.connect(alice), e.connect(alice) // the host has two tabs
	b, c, d := e.connect(bob), e.connect(carol), e.connect(dave)

	a1.SendRef("start_meeting", map[string]string{"roomId": "r1"}, "s1")
	f := a1.Expect("meeting_started", wait)
	m := bindWire(t, f)
	is.Equal(m.RoomID, "r1")                                               // the room
	is.Equal(m.Host, alice)                                                // the sender hosts
	is.Equal(m.Type, meeting.TypeGroup)                                    // group by default
	is.Equal(m.MeetingLink, "/meeting/r1")                                 // the default link
	is.Equal(m.Status, meeting.StatusActive)                               // active
	is.Equal(m.CreatedAt, epoch.UnixMilli())                               // Unix ms from the service clock
	is.Equal(ids(m.Participants), []string{"alice"})                       // the host is the first participant
	is.True(m.Room != nil && m.Room.ID == "r1")                            // room {id}
	is.Equal(f.Ref, "")                                                    // meeting_started is a broadcast: no ref
	is.Equal(bindWire(t, a2.Expect("meeting_started", wait)).RoomID, "r1") // every host session

	for _, p := range []*peer{b, c} {
		inv := bindWire(t, p.Expect("meeting_invitation", wait))
		is.Equal(inv.Status, meeting.StatusActive) // members are invited
		is.Equal(inv.Host, alice)                  // by the host
	}
	none(t, a1, "meeting_invitation") // the host is not invited
	none(t, a2, "meeting_invitation") // on any tab
	none(t, d, "meeting_invitation")  // a non-member hears nothing

	st := e.stored("r1")
	is.Equal(st.Participant("alice").Sessions, []string{a1.session}) // the starting session is bound
	is.Equal(st.HostAwaySince, int64(0))                             // the host is here
}

func TestStartMeetingNonMember(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	d, b := e.connect(dave), e.connect(bob)
	d.Send("start_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, d), signaling.CodeForbidden) // members only
	is.True(e.gone("r1"))                                // nothing stored
	none(t, b, "meeting_invitation")                     // nobody invited
}

func TestStartMeetingConflict(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	first := start(t, a, "r1")
	e.clock.Advance(time.Second)
	b.Send("start_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, b), signaling.CodeConflict) // never overwrite a running meeting
	none(t, b, "meeting_started")                       // b did not start anything
	st := e.stored("r1")
	is.Equal(st.Host, alice)                // the host is unchanged
	is.Equal(st.CreatedAt, first.CreatedAt) // so is the meeting
	is.Equal(len(st.Participants), 1)       // and its participants
	none(t, a, "meeting_invitation")        // the host was not invited to its own meeting
}

func TestStartMeetingType(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, &meeting.Options{LinkBase: "https://huddle.example/m/"})
	a := e.connect(alice)
	a.Send("start_meeting", map[string]string{"roomId": "r2", "type": "direct"})
	m := bindWire(t, a.Expect("meeting_started", wait))
	is.Equal(m.Type, meeting.TypeDirect)                   // the type asked for
	is.Equal(m.MeetingLink, "https://huddle.example/m/r2") // LinkBase + roomId
	a.Send("start_meeting", map[string]string{"roomId": "r1", "type": "webinar"})
	is.Equal(expectError(t, a), signaling.CodeBadRequest) // an unknown type
	a.Send("start_meeting", map[string]string{})
	is.Equal(expectError(t, a), signaling.CodeBadRequest) // roomId is required
	a.Send("start_meeting", map[string]any{"roomId": 7})
	is.Equal(expectError(t, a), signaling.CodeBadRequest) // roomId is a string
}

func TestGetRoomInfoInactive(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	b := e.connect(bob)
	b.SendRef("get_room_info", map[string]string{"roomId": "r1"}, "q1")
	f := b.Expect("room_info_response", wait)
	is.Equal(f.Ref, "q1")                                   // the reply echoes ref
	is.Equal(keys(t, f), []string{"roomId", "status"})      // exactly {roomId, status}
	is.Equal(bindWire(t, f).Status, meeting.StatusInactive) // no meeting
}

func TestGetRoomInfoObjectAndBareString(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	for _, data := range []any{map[string]string{"roomId": "r1"}, "r1"} {
		b.SendRef("get_room_info", data, "q2")
		f := b.Expect("room_info_response", wait)
		m := bindWire(t, f)
		is.Equal(f.Ref, "q2")                                                  // ref echoed
		is.Equal(m.Status, meeting.StatusActive)                               // the active meeting
		is.Equal(m.Host, alice)                                                // with its host
		is.Equal(m.Type, meeting.TypeGroup)                                    // and type
		is.Equal(ids(m.Participants), []string{"alice"})                       // and participants
		is.Equal(m.OnlineUsers, []string{"alice", "bob"})                      // connected participants plus the requester
		is.Equal(len(m.ICEServers), 1)                                         // the hub's ICE servers by default
		is.Equal(m.ICEServers[0].URLs, []string{"stun:stun.example.org:3478"}) // for this user
	}
	b.Send("get_room_info", 42)
	is.Equal(expectError(t, b), signaling.CodeBadRequest) // neither an object nor a string
	b.Send("get_room_info", "")
	is.Equal(expectError(t, b), signaling.CodeBadRequest) // an empty room id
}

func TestGetRoomInfoMembersOnly(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, d := e.connect(alice), e.connect(dave)
	start(t, a, "r1")
	d.Send("get_room_info", "r1")
	is.Equal(expectError(t, d), signaling.CodeForbidden) // not a member
	none(t, d, "room_info_response")                     // no answer
}

func TestGetRoomInfoOnlineAndICE(t *testing.T) {
	is := is.New(t)
	ice := func(userID string) []signaling.ICEServer {
		return []signaling.ICEServer{{URLs: []string{"turn:turn.example.org"}, Username: "x:" + userID, Credential: "c"}}
	}
	e := newEnv(t, &meeting.Options{Online: onlineSet{"alice", "carol", "dave"}, ICE: ice})
	a, b := e.connect(alice), e.connect(bob)
	start(t, a, "r1")
	b.Send("get_room_info", "r1")
	m := bindWire(t, b.Expect("room_info_response", wait))
	is.Equal(m.OnlineUsers, []string{"alice", "carol", "bob"}) // online members (not dave), requester included
	is.Equal(m.ICEServers[0].Username, "x:bob")                // ICE servers for the requester
}

func TestJoinMeeting(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c, er, d := e.connect(alice), e.connect(bob), e.connect(carol), e.connect(erin), e.connect(dave)

	b.Send("join_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, b), signaling.CodeNotFound) // no active meeting
	start(t, a, "r1")
	d.Send("join_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, d), signaling.CodeForbidden) // members only

	b.SendRef("join_meeting", map[string]string{"roomId": "r1"}, "j1")
	f := b.Expect("meeting_joined", wait)
	var j joinedData
	bindTo(t, f, &j)
	is.Equal(f.Ref, "j1")                                   // the reply echoes ref
	is.Equal(j.RoomID, "r1")                                // the room
	is.Equal(ids(j.Participants), []string{"alice", "bob"}) // everyone, the joiner included
	var uj userData
	bindTo(t, a.Expect("meeting_user_joined", wait), &uj)
	is.Equal(uj.User, bob)                                                    // the host learns who joined
	is.Equal(uj.RoomID, "r1")                                                 // where
	is.True(!uj.Rejoin)                                                       // a first join
	none(t, b, "meeting_user_joined")                                         // the joiner is not told about itself
	is.Equal(e.stored("r1").Participant("bob").Sessions, []string{b.session}) // bound

	join(t, c, "r1")
	for _, p := range []*peer{a, b} {
		bindTo(t, p.Expect("meeting_user_joined", wait), &uj)
		is.Equal(uj.User, carol) // without hostId every other participant hears of the joiner
	}

	t.Run("HostID", func(t *testing.T) {
		is := is.New(t)
		er.Send("join_meeting", map[string]string{"roomId": "r1", "hostId": "alice"})
		er.Expect("meeting_joined", wait)
		bindTo(t, a.Expect("meeting_user_joined", wait), &uj)
		is.Equal(uj.User, erin)           // the named participant hears of the joiner
		none(t, b, "meeting_user_joined") // nobody else
		none(t, c, "meeting_user_joined") // nobody else
		er.Send("join_meeting", map[string]string{"roomId": "r1", "hostId": "dave"})
		er.Expect("meeting_joined", wait) // a hostId that is no participant is ignored
		settle(t, er)
		none(t, a, "meeting_user_joined") // and tells nobody
		none(t, b, "meeting_user_joined") // nobody
		none(t, d, "meeting_user_joined") // not the non-participant either
	})

	t.Run("Rejoin", func(t *testing.T) {
		is := is.New(t)
		join(t, b, "r1")
		for _, p := range []*peer{a, c, er} {
			bindTo(t, p.Expect("meeting_user_joined", wait), &uj)
			is.Equal(uj.User, bob) // a second join is announced again
			is.True(uj.Rejoin)     // as a rejoin: rebuild the peer connection
		}
		st := e.stored("r1")
		is.Equal(ids(wireOf(st.Participants)), []string{"alice", "bob", "carol", "erin"}) // still once each
		is.Equal(st.Participant("bob").Sessions, []string{b.session})                     // one binding
	})
}

func wireOf(ps []meeting.Participant) []wireParticipant {
	out := make([]wireParticipant, len(ps))
	for i, p := range ps {
		out[i] = wireParticipant{ID: p.User.ID, Username: p.User.Username}
	}
	return out
}

func TestMeetingFull(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, &meeting.Options{MaxParticipants: 2})
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	c.Send("join_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, c), signaling.CodeMeetingFull) // over maxParticipants
	is.Equal(len(e.stored("r1").Participants), 2)          // nobody was added
	none(t, a, "meeting_user_left")                        // and nothing announced
	join(t, b, "r1")                                       // a rejoin is not a new participant
}

func TestLeaveMeeting(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c, d := e.connect(alice), e.connect(bob), e.connect(carol), e.connect(dave)
	start(t, a, "r1")
	join(t, b, "r1")
	join(t, c, "r1")
	settle(t, a, b, c)
	a.Drain()
	b.Drain()
	c.Drain()

	b.Send("leave_meeting", map[string]string{"roomId": "r1"})
	var ul userData
	for _, p := range []*peer{a, c} {
		bindTo(t, p.Expect("meeting_user_left", wait), &ul)
		is.Equal(ul.User, bob)    // the remaining participants see bob go
		is.Equal(ul.RoomID, "r1") // from r1
	}
	none(t, b, "meeting_user_left")                                                // the leaver is not told
	is.Equal(ids(wireOf(e.stored("r1").Participants)), []string{"alice", "carol"}) // bob is out

	c.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	a.Expect("media_state", wait)
	none(t, b, "media_state") // the leaver's session is no longer bound

	b.Send("leave_meeting", map[string]string{"roomId": "r1"})
	none(t, b, "error") // leaving twice is fine
	d.Send("leave_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, d), signaling.CodeForbidden) // a non-member is refused
	b.Send("leave_meeting", map[string]string{"roomId": "r2"})
	is.Equal(expectError(t, b), signaling.CodeNotFound) // no meeting there
}

func TestStopMeeting(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a1, a2 := e.connect(alice), e.connect(alice)
	b, c, d := e.connect(bob), e.connect(carol), e.connect(dave)

	a1.Send("stop_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, a1), signaling.CodeNotFound) // nothing to stop
	start(t, a1, "r1")
	join(t, b, "r1")

	b.Send("stop_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, b), signaling.CodeForbidden) // only the host stops
	d.Send("stop_meeting", map[string]string{"roomId": "r1"})
	is.Equal(expectError(t, d), signaling.CodeForbidden)  // a non-member neither
	is.Equal(e.stored("r1").Status, meeting.StatusActive) // still running

	settle(t, a1, a2, b, c, d)
	for _, p := range []*peer{a1, a2, b, c, d} {
		p.Drain()
	}
	a1.Send("stop_meeting", map[string]string{"roomId": "r1"})
	for _, p := range []*peer{b, c, a2} {
		f := p.Next(wait)
		is.Equal(f.Event, "meeting_ended") // first the end
		var en endedData
		bindTo(t, f, &en)
		is.Equal(en, endedData{RoomID: "r1", Reason: meeting.ReasonStopped}) // stopped
		f = p.Next(wait)
		is.Equal(f.Event, "meeting_invitation")                 // then the revoked invitation
		is.Equal(bindWire(t, f).Status, meeting.StatusInactive) // inactive
	}
	inv := bindWire(t, a1.Expect("meeting_invitation", wait))
	is.Equal(inv.Status, meeting.StatusInactive) // the stopping session gets the inactive invitation
	none(t, a1, "meeting_ended")                 // but no meeting_ended
	none(t, d, "meeting_ended")                  // a non-member hears nothing
	none(t, d, "meeting_invitation")             // nothing at all

	is.True(e.gone("r1"))          // the meeting is deleted
	is.Equal(e.clock.Pending(), 0) // and no timer is left
	b.Send("get_room_info", "r1")
	is.Equal(bindWire(t, b.Expect("room_info_response", wait)).Status, meeting.StatusInactive) // inactive now

	c.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	is.Equal(expectError(t, c), signaling.CodeNotFound) // the meeting is gone
	start(t, b, "r1")                                   // and the room takes a new one
	none(t, a1, "meeting_user_joined")
	c.Send("join_meeting", map[string]string{"roomId": "r1"})
	c.Expect("meeting_joined", wait)
	b.Expect("meeting_user_joined", wait)
	none(t, a1, "meeting_user_joined") // the old meeting's sessions were unbound
}

func TestMediaState(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")

	c.Send("media_state", map[string]any{"roomId": "r1", "audio": true})
	is.Equal(expectError(t, c), signaling.CodeForbidden) // participants only

	b.Send("media_state", map[string]any{"roomId": "r1", "audio": true, "video": false, "screen": true})
	var ms struct {
		RoomID string         `json:"roomId"`
		User   signaling.User `json:"user"`
		Audio  bool           `json:"audio"`
		Video  bool           `json:"video"`
		Screen bool           `json:"screen"`
	}
	bindTo(t, a.Expect("media_state", wait), &ms)
	is.Equal(ms.RoomID, "r1")                   // the room
	is.Equal(ms.User, bob)                      // who
	is.True(ms.Audio && !ms.Video && ms.Screen) // the state
	none(t, b, "media_state")                   // not echoed to the sender
	none(t, c, "media_state")                   // nor to a non-participant

	b.Send("media_state", map[string]any{"roomId": "r1", "video": true})
	bindTo(t, a.Expect("media_state", wait), &ms)
	is.True(ms.Audio && ms.Video && ms.Screen) // a field left out keeps its value

	c.Send("get_room_info", "r1")
	info := bindWire(t, c.Expect("room_info_response", wait))
	is.Equal(info.Participants[1], wireParticipant{ID: "bob", Username: "Bob", Audio: true, Video: true, Screen: true}) // kept and returned
	is.Equal(e.stored("r1").Participant("bob").Media, meeting.Media{Audio: true, Video: true, Screen: true})            // stored
}

func TestCatchUpInvitation(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a := e.connect(alice)
	start(t, a, "r1")
	start(t, a, "r2")

	b := e.connect(bob)
	for _, room := range []string{"r1", "r2"} {
		f := b.Next(wait)
		is.Equal(f.Event, "meeting_invitation") // catch-up comes right after session
		m := bindWire(t, f)
		is.Equal(m.RoomID, room)                 // one per active meeting of the user's rooms
		is.Equal(m.Status, meeting.StatusActive) // active
		is.Equal(m.Host, alice)                  // with its host
	}
	none(t, b, "meeting_invitation") // exactly one each

	c := e.connect(carol)
	is.Equal(bindWire(t, c.Expect("meeting_invitation", wait)).RoomID, "r1") // only the rooms carol is in
	none(t, c, "meeting_invitation")                                         // not r2

	a2 := e.connect(alice)
	none(t, a2, "meeting_invitation") // the host gets none
	d := e.connect(dave)
	none(t, d, "meeting_invitation") // a non-member gets none
}

func TestNewRejectsMissingOrBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		hub  signaling.Hub
		opts *meeting.Options
		want string
	}{
		{"no hub", nil, &meeting.Options{Members: &roomMembers{}}, "hub is nil"},
		{"nil options", signaling.NewNode(nil), nil, "Options.Members is required"},
		{"no members", signaling.NewNode(nil), &meeting.Options{}, "Options.Members is required"},
		{"no room topic", signaling.NewNode(nil), &meeting.Options{Members: &roomMembers{}}, "Options.RoomTopic is required"},
		{"unknown host policy", signaling.NewNode(nil), &meeting.Options{Members: &roomMembers{}, RoomTopic: chat.RoomTopic, HostPolicy: "vote"}, `unknown HostPolicy "vote"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			svc, err := meeting.New(tc.hub, tc.opts)
			is.True(err != nil)                             // a missing or bad option is an error, not a panic
			is.True(svc == nil)                             // and no Service
			is.True(strings.Contains(err.Error(), tc.want)) // that names it
		})
	}
}
