package chat

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/huddle-go/huddle/signaling"
)

// TimeLayout is how message times are written on the wire: RFC 3339 with milliseconds, in UTC
// ("2024-05-01T12:00:00.000Z").
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Message is one chat message as it is stored and sent: the `message` event of PROTOCOL.md §5.
// The Service assigns ID (a UUIDv7, so ids sort by creation time), Sender and the times; a
// client never chooses them.
type Message struct {
	ID      string
	RoomID  string
	Content string
	Sender  signaling.User
	// CreatedAt and UpdatedAt are written with millisecond precision in UTC.
	CreatedAt time.Time
	UpdatedAt time.Time
	// ClientMsgID is the client's idempotency key, if it sent one.
	ClientMsgID string
}

type wireMessage struct {
	ID          string         `json:"id"`
	RoomID      string         `json:"roomId"`
	Content     string         `json:"content"`
	Sender      signaling.User `json:"sender"`
	CreatedAt   string         `json:"createdAt"`
	UpdatedAt   string         `json:"updatedAt"`
	ClientMsgID string         `json:"clientMsgId,omitempty"`
}

// MarshalJSON writes the wire form {id, roomId, content, sender, createdAt, updatedAt,
// clientMsgId?} with the times in TimeLayout.
func (m Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireMessage{
		ID:          m.ID,
		RoomID:      m.RoomID,
		Content:     m.Content,
		Sender:      m.Sender,
		CreatedAt:   m.CreatedAt.UTC().Format(TimeLayout),
		UpdatedAt:   m.UpdatedAt.UTC().Format(TimeLayout),
		ClientMsgID: m.ClientMsgID,
	})
}

// UnmarshalJSON reads the wire form; the times may be any RFC 3339 time.
func (m *Message) UnmarshalJSON(b []byte) error {
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	created, err := parseTime(w.CreatedAt)
	if err != nil {
		return fmt.Errorf("chat: message createdAt: %w", err)
	}
	updated, err := parseTime(w.UpdatedAt)
	if err != nil {
		return fmt.Errorf("chat: message updatedAt: %w", err)
	}
	*m = Message{
		ID:          w.ID,
		RoomID:      w.RoomID,
		Content:     w.Content,
		Sender:      w.Sender,
		CreatedAt:   created,
		UpdatedAt:   updated,
		ClientMsgID: w.ClientMsgID,
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
