package meeting_test

import (
	"encoding/json"
	"testing"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

func sample() meeting.Meeting {
	return meeting.Meeting{
		RoomID:      "r1",
		Host:        alice,
		Type:        meeting.TypeGroup,
		MeetingLink: "/meeting/r1",
		Status:      meeting.StatusActive,
		CreatedAt:   1772355600000,
		Participants: []meeting.Participant{
			{User: alice, JoinedAt: 1772355600000, Media: meeting.Media{Audio: true}, Sessions: []string{"s1"}},
			{User: bob, JoinedAt: 1772355601000, Media: meeting.Media{Hand: true}, Dropped: []string{"s2"}, DroppedAt: 1772355602000},
		},
		HostAwaySince: 1772355603000,
		Locked:        true,
		Knocks:        []meeting.Knock{{User: carol, At: 1772355604000, Sessions: []string{"s3", "s4"}}},
		Removed:       []signaling.User{erin},
	}
}

func TestMeetingJSONIsActiveMeeting(t *testing.T) {
	is := is.New(t)
	b, err := json.Marshal(sample())
	is.NoErr(err) // marshal
	want := `{"roomId":"r1","host":{"id":"alice","username":"Alice"},"type":"group",` +
		`"meetingLink":"/meeting/r1","status":"active","createdAt":1772355600000,` +
		`"participants":[{"id":"alice","username":"Alice","audio":true,"video":false,"screen":false,"hand":false},` +
		`{"id":"bob","username":"Bob","audio":false,"video":false,"screen":false,"hand":true}],"room":{"id":"r1"},"locked":true}`
	is.Equal(string(b), want) // the ActiveMeeting of PROTOCOL.md §7, without server-side state (no knocks, no removals)

	var back meeting.Meeting
	is.NoErr(json.Unmarshal(b, &back))           // a client decodes it
	is.Equal(back.Host, alice)                   // host
	is.Equal(len(back.Participants), 2)          // participants
	is.True(back.Participants[0].Audio)          // with media state
	is.Equal(back.Participants[1].Sessions, nil) // no sessions on the wire
	is.True(back.Locked)                         // the lock
	is.True(back.Participants[1].Hand)           // and a raised hand

	empty, err := json.Marshal(meeting.Meeting{RoomID: "r9"})
	is.NoErr(err)                                            // marshal an empty meeting
	is.True(json.Valid(empty))                               // valid
	is.True(string(empty) != "" && !contains(empty, "null")) // participants is [], never null
}

func TestMeetingJSONAcceptsRoomShape(t *testing.T) {
	is := is.New(t)
	var m meeting.Meeting
	is.NoErr(json.Unmarshal([]byte(`{"room":{"id":"r7"},"host":{"id":"h","username":"H"},"status":"active","createdAt":5}`), &m)) // the original's later shape
	is.Equal(m.RoomID, "r7")                                                                                                      // roomId taken from room.id
	is.Equal(m.Host, signaling.User{ID: "h", Username: "H"})                                                                      // host
}

func TestMeetingBinaryKeepsEverything(t *testing.T) {
	is := is.New(t)
	m := sample()
	b, err := m.MarshalBinary()
	is.NoErr(err) // encode
	var back meeting.Meeting
	is.NoErr(back.UnmarshalBinary(b)) // decode
	is.Equal(back, m)                 // every field survives

	var old meeting.Meeting
	is.NoErr(old.UnmarshalBinary([]byte(`{"v":1,"roomId":"r1","host":{"id":"alice","username":"Alice"},"status":"active","participants":[{"user":{"id":"alice","username":"Alice"},"joinedAt":1,"audio":true,"video":false,"screen":false}]}`))) // a record of the release before locks and hands
	is.True(!old.Locked && old.Knocks == nil && old.Removed == nil)                                                                                                                                                                              // reads as an open meeting
	is.True(old.Participants[0].Audio && !old.Participants[0].Hand)                                                                                                                                                                              // with its media state, no hand raised

	is.True(back.UnmarshalBinary([]byte(`{"v":99}`)) != nil) // an unknown version is an error
	is.True(back.UnmarshalBinary([]byte(`nope`)) != nil)     // garbage is an error
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}
