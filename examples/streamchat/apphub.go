package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
)

// appHub is the Node as the services see it (huddle.Options.WrapHub), with one habit of the app added: the app's
// host never sends join_meeting. It only offers, and only to the online members its
// room_info_response lists; offers to members who have not joined yet are refused. So a host
// whose meeting page runs in a session that is not bound to the meeting (a reload before anyone
// joined, or a second tab after the first closed) could never be reached: a guest's
// join_meeting {hostId} finds no connected host, and nobody offers.
//
// appHub therefore treats the host's get_room_info (the meeting page's first frame) as the
// host's join: before the reply it binds the session with a join_meeting {roomId, hostId: <the
// host>}, which tells nobody anything (a hostId naming oneself notifies no one), so it causes no
// offers and no glare. A bind that fails for a reason of the client's (no longer a member, the
// meeting full) is left to get_room_info to answer.
//
// And the meeting page is a view of its room (it has the room's chat panel, which opens the room
// over REST at the same moment): so get_room_info first opens the room like GET /api/room/:id
// does, through open, and a user who follows a meeting link to a group room is not refused for
// having been quicker than the chat panel.
type appHub struct {
	*signaling.Node
	meetings meeting.Store
	// open makes the user a member of a group room, as opening it over REST does; an error
	// leaves the membership check to the meeting service.
	open func(ctx context.Context, u signaling.User, roomID string) error
	join signaling.Handler
}

// Handle registers h on the Node, keeping join_meeting's handler and wrapping get_room_info's.
func (h *appHub) Handle(event string, hd signaling.Handler) error {
	switch event {
	case "join_meeting":
		h.join = hd
	case "get_room_info":
		info := hd
		hd = signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
			if id := roomOf(e.Raw()); id != "" && h.open != nil {
				if err := h.open(ctx, s.User(), id); errors.Is(err, signaling.ErrUnavailable) {
					return err
				}
			}
			// Bind first, so that the host is reachable once its page has the room info.
			if err := h.bindHost(ctx, s, e); errors.Is(err, signaling.ErrUnavailable) {
				return err
			}
			return info.ServeEvent(ctx, s, e)
		})
	}
	return h.Node.Handle(event, hd)
}

// bindHost joins the host's session to its active meeting unless it is bound already. The
// join's own reply, `meeting_joined`, goes out first; the app ignores it.
func (h *appHub) bindHost(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	roomID := roomOf(e.Raw())
	if roomID == "" || h.join == nil {
		return nil
	}
	m, err := h.meetings.Get(ctx, roomID)
	if errors.Is(err, meeting.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	u := s.User()
	if m.Status != meeting.StatusActive || m.Host.ID != u.ID {
		return nil
	}
	if p := m.Participant(u.ID); p != nil && slices.Contains(p.Sessions, s.ID()) {
		return nil
	}
	data, err := json.Marshal(map[string]string{"roomId": roomID, "hostId": u.ID})
	if err != nil {
		return err
	}
	return h.join.ServeEvent(ctx, s, signaling.Envelope{Event: "join_meeting", Data: json.RawMessage(data), Ref: e.Ref})
}

// roomOf reads the room id of get_room_info's data: {roomId} or the bare string.
func roomOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var id string
	if len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &id)
		return id
	}
	var in struct {
		RoomID string `json:"roomId"`
	}
	_ = json.Unmarshal(raw, &in)
	return in.RoomID
}
