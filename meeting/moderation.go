package meeting

import (
	"context"
	"slices"

	"github.com/huddle-go/huddle/signaling"
)

// The host runs the meeting: `moderate` mutes a participant, stops its video, lowers its hand
// or removes it; `lock_meeting` locks the meeting, so that newcomers knock (lobby.go). Only the
// meeting's host may (anyone else gets `forbidden`), from any of its sessions, in the meeting or
// not. What these change is in the meeting record (Meeting.Locked, Knocks, Removed,
// Participant.Hand), so it survives the host's reload and holds on every node sharing the Store.

// Actions of `moderate`.
const (
	// ActionMute asks the participant's client to mute its microphone (it may unmute later).
	ActionMute = "mute"
	// ActionStopVideo asks the participant's client to turn its camera off.
	ActionStopVideo = "stop_video"
	// ActionLowerHand lowers the participant's raised hand (Participant.Hand).
	ActionLowerHand = "lower_hand"
	// ActionRemove takes the participant out of the meeting; its `join_meeting` is refused
	// until the meeting ends or the host admits it.
	ActionRemove = "remove"
)

// ReasonRemoved is the reason of the `meeting_user_left` of a participant the host removed.
const ReasonRemoved = "removed"

// Payloads of the moderation events.
type (
	moderatedEvent struct {
		RoomID string         `json:"roomId"`
		Action string         `json:"action"`
		By     signaling.User `json:"by"`
	}
	lockedEvent struct {
		RoomID string `json:"roomId"`
		Locked bool   `json:"locked"`
	}
)

// requireHost fails with `forbidden` unless hostID hosts m.
func requireHost(m *Meeting, hostID string) error {
	if m.Host.ID != hostID {
		return signaling.Errorf(signaling.CodeForbidden, "only the host of the meeting in room %q may do that", m.RoomID)
	}
	return nil
}

// hostTarget decodes the {roomId, userId} of a host's event about another user, and checks that
// the sender is a member of the room and that the target is not the sender. Whether the sender
// hosts the meeting is checked in the update that acts.
func (svc *Service) hostTarget(ctx context.Context, s *signaling.Session, e signaling.Envelope) (roomID, userID string, err error) {
	var in struct {
		RoomID string `json:"roomId"`
		UserID string `json:"userId"`
	}
	if err := e.Bind(&in); err != nil {
		return "", "", err
	}
	if err := checkID(e.Event, "roomId", in.RoomID); err != nil {
		return "", "", err
	}
	if err := checkID(e.Event, "userId", in.UserID); err != nil {
		return "", "", err
	}
	if err := svc.requireMember(ctx, in.RoomID, s.User().ID); err != nil {
		return "", "", err
	}
	return in.RoomID, in.UserID, nil
}

// moderate: {roomId, userId, action}. Host only. `moderated {roomId, action, by}` goes to the
// target's sessions. For "lower_hand" the hand is lowered in the record and the others get the
// target's `media_state`; for "remove" the target leaves (its sessions are unbound, the others
// get `meeting_user_left` with reason "removed") and is kept out (Meeting.Removed). "mute" and
// "stop_video" are asks: the target's client obeys and reports its new `media_state` itself.
// A target that is not a participant is `not_found`; the host itself, `bad_request`.
func (svc *Service) moderate(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in struct {
		Action string `json:"action"`
	}
	if err := e.Bind(&in); err != nil {
		return err
	}
	switch in.Action {
	case ActionMute, ActionStopVideo, ActionLowerHand, ActionRemove:
	default:
		return signaling.Errorf(signaling.CodeBadRequest, "moderate: action must be %q, %q, %q or %q", ActionMute, ActionStopVideo, ActionLowerHand, ActionRemove)
	}
	roomID, userID, err := svc.hostTarget(ctx, s, e)
	if err != nil {
		return err
	}
	host := s.User()
	if userID == host.ID {
		return signaling.Errorf(signaling.CodeBadRequest, "moderate: the host moderates the others, not itself")
	}
	var (
		target Participant
		empty  bool
	)
	err = svc.update(ctx, roomID, func(m *Meeting) error {
		if err := requireHost(m, host.ID); err != nil {
			return err
		}
		p := m.Participant(userID)
		if p == nil {
			return signaling.Errorf(signaling.CodeNotFound, "%q is not a participant of the meeting in room %q", userID, roomID)
		}
		empty = false
		switch in.Action {
		case ActionLowerHand:
			p.Hand = false
			target = *p
		case ActionRemove:
			target, _ = m.remove(userID)
			if !m.isRemoved(userID) {
				m.Removed = append(m.Removed, target.User)
			}
			if empty = len(m.Participants) == 0; empty {
				m.EmptySince = svc.now().UnixMilli()
			}
		default:
			target = *p
		}
		return nil
	})
	if err != nil {
		return err
	}
	// To every session of the target: a removal concerns its other tabs too, and the user topic
	// is not the one the removal unsubscribes.
	svc.publish(ctx, signaling.UserTopic(userID), "moderated", moderatedEvent{RoomID: roomID, Action: in.Action, By: host})
	topic := Topic(roomID)
	switch in.Action {
	case ActionLowerHand:
		svc.publish(ctx, topic, "media_state", mediaEvent{RoomID: roomID, User: target.User, Media: target.Media}, signaling.ExceptUser(userID))
	case ActionRemove:
		svc.disarm(graceKey(roomID, userID))
		for _, sid := range target.sessions() {
			if s := svc.hub.Session(sid); s != nil {
				svc.bindingsOf(s).remove(roomID)
			}
		}
		svc.unbindSessions(ctx, roomID, target.sessions())
		svc.publish(ctx, topic, "meeting_user_left", userEvent{User: target.User, RoomID: roomID, Reason: ReasonRemoved}, signaling.ExceptUser(userID))
		if empty {
			svc.armEmpty(roomID)
		}
		svc.log.Debug("meeting: removed", "room", roomID, "user", userID, "by", host.ID)
	}
	return nil
}

// lockMeeting: {roomId, locked}. Host only. Stores the lock and sends `meeting_locked {roomId,
// locked}` to the participants. Unlocking admits everyone waiting in the lobby, oldest first, as
// room allows (the others keep waiting for the host).
func (svc *Service) lockMeeting(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in struct {
		RoomID string `json:"roomId"`
		Locked *bool  `json:"locked"`
	}
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkID(e.Event, "roomId", in.RoomID); err != nil {
		return err
	}
	if in.Locked == nil {
		return signaling.Errorf(signaling.CodeBadRequest, "lock_meeting: locked is required")
	}
	host := s.User()
	if err := svc.requireMember(ctx, in.RoomID, host.ID); err != nil {
		return err
	}
	var waiting []string
	err := svc.update(ctx, in.RoomID, func(m *Meeting) error {
		if err := requireHost(m, host.ID); err != nil {
			return err
		}
		m.Locked = *in.Locked
		waiting = waiting[:0]
		for _, k := range m.Knocks {
			waiting = append(waiting, k.User.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	svc.publish(ctx, Topic(in.RoomID), "meeting_locked", lockedEvent{RoomID: in.RoomID, Locked: *in.Locked})
	if *in.Locked {
		return nil
	}
	for _, userID := range slices.Clip(waiting) {
		if err := svc.letIn(ctx, in.RoomID, userID, ""); err != nil {
			if signaling.ErrorCode(err) == signaling.CodeMeetingFull {
				break // the others keep waiting for the host
			}
			if signaling.ErrorCode(err) != signaling.CodeNotFound { // not_found: withdrawn meanwhile
				svc.log.Warn("meeting: unlock: admit", "room", in.RoomID, "user", userID, "err", err)
			}
		}
	}
	return nil
}
