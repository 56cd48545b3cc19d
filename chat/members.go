package chat

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/huddle-go/huddle/signaling"
)

// RoomTopic names the topic of a room: the Service subscribes every session of each member to
// it, and publishes there what the room's members receive (messages, typing, members joining
// and leaving). Presence and meeting publish their room-wide events there too (their Options'
// RoomTopic, which huddle.New sets to this function).
func RoomTopic(roomID string) string { return "room:" + roomID }

// startRooms returns the rooms of sess's user, read from m once per session start for every
// service reading m (signaling.Session.StartValue).
func startRooms(ctx context.Context, sess *signaling.Session, m Membership) ([]string, error) {
	v, err := sess.StartValue(m, func() (any, error) { return m.Rooms(ctx, sess.User().ID) })
	rooms, _ := v.([]string)
	return rooms, err
}

// MaxUserIDBytes bounds the user id and username of `add_member`, as the authenticators bound
// the identities they establish.
const MaxUserIDBytes = 128

type addMemberReq struct {
	RoomID   string `json:"roomId"`
	UserID   string `json:"userId"`
	Username string `json:"username"`
}

// addMember handles `add_member {roomId, userId, username?}`: a member adds another user to the
// room (under MembersOnly, the only way in besides Service.AddMember). The sender gets
// `member_added {roomId, user}`; the room, the added user included, gets `member_joined`.
func (s *Service) addMember(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
	var in addMemberReq
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkRoomID(e.Event, in.RoomID); err != nil {
		return err
	}
	u := signaling.User{ID: in.UserID, Username: in.Username}
	if u.Username == "" {
		u.Username = u.ID // until the user joins with its own name
	}
	if err := checkUser(e.Event, u); err != nil {
		return err
	}
	if err := s.requireMember(ctx, e.Event, sess.User().ID, in.RoomID); err != nil {
		return err
	}
	if err := s.add(ctx, e.Event, in.RoomID, u); err != nil {
		return err
	}
	return sess.Reply(ctx, e, "member_added", memberEvent{RoomID: in.RoomID, User: u})
}

func checkUser(event string, u signaling.User) error {
	switch {
	case u.ID == "":
		return signaling.Errorf(signaling.CodeBadRequest, "%s: userId is required", event)
	case len(u.ID) > MaxUserIDBytes || len(u.Username) > MaxUserIDBytes:
		return signaling.Errorf(signaling.CodeBadRequest, "%s: userId and username are at most %d bytes", event, MaxUserIDBytes)
	case !utf8.ValidString(u.ID) || !utf8.ValidString(u.Username):
		return signaling.Errorf(signaling.CodeBadRequest, "%s: userId and username must be UTF-8", event)
	}
	return nil
}

// AddMember makes u a member of the room, whatever the Policy: the application's way to build
// the rooms of a MembersOnly server (or to add someone to an open one). Every session of u is
// subscribed to the room, and the room, u included, gets `member_joined`. Adding a member again
// only updates the stored User. It fails with a CodeBadRequest *signaling.Error for a bad room
// id or user, and CodeForbidden when u is already in MaxRoomsPerUser rooms.
func (s *Service) AddMember(ctx context.Context, roomID string, u signaling.User) error {
	const event = "add_member"
	if err := checkRoomID(event, roomID); err != nil {
		return err
	}
	if err := checkUser(event, u); err != nil {
		return err
	}
	return s.add(ctx, event, roomID, u)
}

func (s *Service) add(ctx context.Context, event, roomID string, u signaling.User) error {
	member, err := s.members.IsMember(ctx, roomID, u.ID)
	if err != nil {
		return fmt.Errorf("chat: %s: %w", event, err)
	}
	if !member {
		rooms, err := s.members.Rooms(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("chat: %s: rooms: %w", event, err)
		}
		if len(rooms) >= s.opts.MaxRoomsPerUser {
			return signaling.Errorf(signaling.CodeForbidden, "%s: %s is already a member of %d rooms, the limit", event, u.ID, len(rooms))
		}
	}
	if err := s.members.Join(ctx, roomID, u); err != nil {
		return fmt.Errorf("chat: %s: join: %w", event, err)
	}
	if member {
		return nil
	}
	if err := s.hub.SubscribeUser(ctx, u.ID, RoomTopic(roomID)); err != nil {
		if lerr := s.members.Leave(context.WithoutCancel(ctx), roomID, u.ID); lerr != nil {
			s.log.Error("undo add_member failed", "room", roomID, "user", u.ID, "err", lerr)
		}
		return fmt.Errorf("chat: %s: subscribe: %w", event, err)
	}
	err = s.hub.Publish(ctx, RoomTopic(roomID), signaling.Envelope{Event: "member_joined", Data: memberEvent{RoomID: roomID, User: u}})
	if err != nil {
		s.log.Warn("chat: announce member_joined", "room", roomID, "user", u.ID, "err", err)
	}
	return nil
}

// RemoveMember takes userID out of the room as leave_room does: its sessions are unsubscribed,
// its typing ends, Options.OnLeave runs (the reference server leaves the room's meeting) and
// the other members get `member_left`. Removing a non-member changes nothing but still runs
// OnLeave, so that a failed removal can be retried.
func (s *Service) RemoveMember(ctx context.Context, roomID, userID string) error {
	if err := checkRoomID("remove_member", roomID); err != nil {
		return err
	}
	u := signaling.User{ID: userID, Username: userID}
	members, err := s.members.Members(ctx, roomID)
	if err != nil {
		return fmt.Errorf("chat: remove_member: %w", err)
	}
	for _, m := range members {
		if m.ID == userID {
			u = m // member_left names the user as the room knows it
		}
	}
	return s.remove(ctx, "remove_member", roomID, u)
}

// remove is leave_room and RemoveMember. u is the leaving user as member_left names it.
func (s *Service) remove(ctx context.Context, event, roomID string, u signaling.User) error {
	member, err := s.members.IsMember(ctx, roomID, u.ID)
	if err != nil {
		return fmt.Errorf("chat: %s: %w", event, err)
	}
	if err := s.members.Leave(ctx, roomID, u.ID); err != nil {
		return fmt.Errorf("chat: %s: %w", event, err)
	}
	if err := s.hub.UnsubscribeUser(ctx, u.ID, RoomTopic(roomID)); err != nil {
		return fmt.Errorf("chat: %s: unsubscribe: %w", event, err)
	}
	s.typing.stop(ctx, u.ID, roomID)
	if s.opts.OnLeave != nil {
		if err := s.opts.OnLeave(ctx, roomID, u.ID); err != nil {
			return fmt.Errorf("chat: %s: on leave: %w", event, err)
		}
	}
	if member {
		s.announce(ctx, "member_left", roomID, u)
	}
	return nil
}
