package meeting

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/huddle-go/huddle/signaling"
)

// Meeting statuses. A stored meeting is active until it ends; an ending meeting is marked
// inactive before its record is deleted, and every reader treats it as gone.
const (
	StatusActive   = "active"
	StatusInactive = "inactive"
)

// Meeting types. The type is a label for clients; both are meshes of at most MaxParticipants.
const (
	TypeGroup  = "group"
	TypeDirect = "direct"
)

// Meeting is the state of a room's meeting, as the Store keeps it.
//
// Its JSON (MarshalJSON) is the ActiveMeeting object of PROTOCOL.md §7,
// {roomId, host, type, meetingLink, status, createdAt, participants, room: {id}, locked}, where
// each participant is a User with its media state; the server-side fields (sessions, grace
// deadlines, knocks, removals) stay out of it. Stores that serialize a Meeting use MarshalBinary and UnmarshalBinary, which
// keep every field.
type Meeting struct {
	// RoomID is the room the meeting belongs to. A room has at most one active meeting.
	RoomID string
	// Host may stop the meeting. It is the first participant, and stays the host while away
	// (until the host policy applies) and after a leave_meeting.
	Host signaling.User
	// Type is TypeGroup or TypeDirect.
	Type string
	// MeetingLink is Options.LinkBase followed by the room id.
	MeetingLink string
	// Status is StatusActive, or StatusInactive while the meeting is being ended.
	Status string
	// CreatedAt is when the meeting started, in Unix milliseconds.
	CreatedAt int64
	// Participants are in join order (the oldest first).
	Participants []Participant
	// HostAwaySince is when the host's last session bound to the meeting closed (Unix ms); the
	// host grace counts from it. Zero while the host is connected, and after the host left with
	// leave_meeting.
	HostAwaySince int64
	// EmptySince is when the last participant went (Unix ms); the empty timeout counts from it.
	// Zero while anyone participates.
	EmptySince int64
	// Locked is set by the host's `lock_meeting`: a user who is not yet a participant knocks
	// instead of joining, and the host admits or denies (lobby.go).
	Locked bool
	// Knocks are the users waiting to be let into a locked meeting, oldest first.
	Knocks []Knock
	// Removed are the users the host removed with `moderate`: their `join_meeting` is refused
	// until the meeting ends or the host admits them (moderation.go).
	Removed []signaling.User
}

// Knock is a user waiting to be let into a locked meeting.
type Knock struct {
	User signaling.User `json:"user"`
	// At is when the user first knocked (Unix ms).
	At int64 `json:"at"`
	// Sessions are the user's sessions that knocked (at most maxKnockSessions): an admit joins
	// each of them, a deny tells each.
	Sessions []string `json:"sessions"`
}

// Participant is a user in a meeting, with the sessions bound to the meeting.
type Participant struct {
	User signaling.User `json:"user"`
	// JoinedAt is when the user joined (Unix ms). A rejoin within the grace keeps it.
	JoinedAt int64 `json:"joinedAt"`
	Media
	// Sessions are the user's connected sessions bound to the meeting: `video-signal` reaches
	// the user on these.
	Sessions []string `json:"sessions,omitempty"`
	// Dropped are bound sessions whose connection dropped; each may still resume.
	Dropped []string `json:"dropped,omitempty"`
	// DroppedAt is when Sessions became empty (Unix ms); the participant grace counts from it.
	// Zero while the participant is connected.
	DroppedAt int64 `json:"droppedAt,omitempty"`
}

// Media is a participant's media state, as its client reports it with `media_state`.
type Media struct {
	Audio  bool `json:"audio"`
	Video  bool `json:"video"`
	Screen bool `json:"screen"`
	// Hand is a raised hand; the host may lower it (`moderate` action "lower_hand").
	Hand bool `json:"hand"`
}

// Participant returns the participant with userID, or nil. The pointer is into the array of
// m.Participants, so an Update function may change the participant through it.
func (m Meeting) Participant(userID string) *Participant {
	for i := range m.Participants {
		if m.Participants[i].User.ID == userID {
			return &m.Participants[i]
		}
	}
	return nil
}

// Active reports whether the meeting is running.
func (m Meeting) Active() bool { return m.Status == StatusActive }

// remove takes the participant with userID out of the meeting and returns it.
func (m *Meeting) remove(userID string) (Participant, bool) {
	for i := range m.Participants {
		if m.Participants[i].User.ID == userID {
			p := m.Participants[i]
			m.Participants = slices.Delete(m.Participants, i, i+1)
			return p, true
		}
	}
	return Participant{}, false
}

// clone returns a deep copy, so that a store and its callers never share slices.
func (m Meeting) clone() Meeting {
	m.Participants = slices.Clone(m.Participants)
	for i := range m.Participants {
		p := &m.Participants[i]
		p.Sessions = slices.Clone(p.Sessions)
		p.Dropped = slices.Clone(p.Dropped)
	}
	m.Knocks = slices.Clone(m.Knocks)
	for i := range m.Knocks {
		m.Knocks[i].Sessions = slices.Clone(m.Knocks[i].Sessions)
	}
	m.Removed = slices.Clone(m.Removed)
	return m
}

// bind makes session a connected bound session of p and reports whether it was one already.
func (p *Participant) bind(session string) bool {
	p.Dropped = slices.DeleteFunc(p.Dropped, func(s string) bool { return s == session })
	p.DroppedAt = 0
	if slices.Contains(p.Sessions, session) {
		return true
	}
	p.Sessions = append(p.Sessions, session)
	return false
}

// connected reports whether p has a connected bound session.
func (p *Participant) connected() bool { return len(p.Sessions) > 0 }

// sessions returns every session bound to p, connected or dropped.
func (p *Participant) sessions() []string {
	return append(slices.Clone(p.Sessions), p.Dropped...)
}

// wireParticipant is a participant on the wire: a User plus its media state.
type wireParticipant struct {
	signaling.User
	Media
}

type wireRoom struct {
	ID string `json:"id"`
}

// wireMeeting is the ActiveMeeting object of PROTOCOL.md §7.
type wireMeeting struct {
	RoomID       string            `json:"roomId"`
	Host         signaling.User    `json:"host"`
	Type         string            `json:"type"`
	MeetingLink  string            `json:"meetingLink"`
	Status       string            `json:"status"`
	CreatedAt    int64             `json:"createdAt"`
	Participants []wireParticipant `json:"participants"`
	Room         wireRoom          `json:"room"`
	Locked       bool              `json:"locked"`
}

func (m Meeting) wire() wireMeeting {
	return wireMeeting{
		RoomID:       m.RoomID,
		Host:         m.Host,
		Type:         m.Type,
		MeetingLink:  m.MeetingLink,
		Status:       m.Status,
		CreatedAt:    m.CreatedAt,
		Participants: wireParticipants(m.Participants),
		Room:         wireRoom{ID: m.RoomID},
		Locked:       m.Locked,
	}
}

func wireParticipants(ps []Participant) []wireParticipant {
	out := make([]wireParticipant, len(ps))
	for i, p := range ps {
		out[i] = wireParticipant{User: p.User, Media: p.Media}
	}
	return out
}

// MarshalJSON writes the ActiveMeeting object of PROTOCOL.md §7.
func (m Meeting) MarshalJSON() ([]byte, error) { return json.Marshal(m.wire()) }

// UnmarshalJSON reads an ActiveMeeting object (as a client receives it in `meeting_started`,
// `meeting_invitation` or `room_info_response`). Server-side fields stay zero. The shape of the
// original server's later versions, with `room: {id}` instead of `roomId`, is accepted too.
func (m *Meeting) UnmarshalJSON(b []byte) error {
	var w wireMeeting
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Meeting{
		RoomID:      w.RoomID,
		Host:        w.Host,
		Type:        w.Type,
		MeetingLink: w.MeetingLink,
		Status:      w.Status,
		CreatedAt:   w.CreatedAt,
		Locked:      w.Locked,
	}
	if m.RoomID == "" {
		m.RoomID = w.Room.ID
	}
	for _, p := range w.Participants {
		m.Participants = append(m.Participants, Participant{User: p.User, Media: p.Media})
	}
	return nil
}

// record is the storage form of a Meeting: every field, versioned. Fields added later are
// omitted when zero, so that a record of an earlier release reads the same.
type record struct {
	V             int              `json:"v"`
	RoomID        string           `json:"roomId"`
	Host          signaling.User   `json:"host"`
	Type          string           `json:"type"`
	MeetingLink   string           `json:"meetingLink"`
	Status        string           `json:"status"`
	CreatedAt     int64            `json:"createdAt"`
	Participants  []Participant    `json:"participants"`
	HostAwaySince int64            `json:"hostAwaySince,omitempty"`
	EmptySince    int64            `json:"emptySince,omitempty"`
	Locked        bool             `json:"locked,omitempty"`
	Knocks        []Knock          `json:"knocks,omitempty"`
	Removed       []signaling.User `json:"removed,omitempty"`
}

const recordVersion = 1

// MarshalBinary encodes every field of the meeting, for stores (encoding.BinaryMarshaler).
func (m Meeting) MarshalBinary() ([]byte, error) {
	return json.Marshal(record{
		V:             recordVersion,
		RoomID:        m.RoomID,
		Host:          m.Host,
		Type:          m.Type,
		MeetingLink:   m.MeetingLink,
		Status:        m.Status,
		CreatedAt:     m.CreatedAt,
		Participants:  m.Participants,
		HostAwaySince: m.HostAwaySince,
		EmptySince:    m.EmptySince,
		Locked:        m.Locked,
		Knocks:        m.Knocks,
		Removed:       m.Removed,
	})
}

// UnmarshalBinary decodes what MarshalBinary wrote (encoding.BinaryUnmarshaler).
func (m *Meeting) UnmarshalBinary(b []byte) error {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("meeting: decode record: %w", err)
	}
	if r.V != recordVersion {
		return fmt.Errorf("meeting: decode record: unknown version %d", r.V)
	}
	*m = Meeting{
		RoomID:        r.RoomID,
		Host:          r.Host,
		Type:          r.Type,
		MeetingLink:   r.MeetingLink,
		Status:        r.Status,
		CreatedAt:     r.CreatedAt,
		Participants:  r.Participants,
		HostAwaySince: r.HostAwaySince,
		EmptySince:    r.EmptySince,
		Locked:        r.Locked,
		Knocks:        r.Knocks,
		Removed:       r.Removed,
	}
	return nil
}
