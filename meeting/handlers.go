package meeting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/huddle-go/huddle/signaling"
)

// checkID validates an id taken from a client.
func checkID(event, field, id string) error {
	if id == "" {
		return signaling.Errorf(signaling.CodeBadRequest, "%s: %s is required", event, field)
	}
	if len(id) > maxIDBytes {
		return signaling.Errorf(signaling.CodeBadRequest, "%s: %s is longer than %d bytes", event, field, maxIDBytes)
	}
	return nil
}

// bindRoom decodes {roomId} data.
func bindRoom(e signaling.Envelope) (string, error) {
	var in struct {
		RoomID string `json:"roomId"`
	}
	if err := e.Bind(&in); err != nil {
		return "", err
	}
	return in.RoomID, checkID(e.Event, "roomId", in.RoomID)
}

// startMeeting: {roomId, type?}. The sender, a member, becomes host and first participant, and
// this session is bound. `meeting_started` goes to the host's sessions, the active
// `meeting_invitation` to every other member's sessions.
func (svc *Service) startMeeting(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in struct {
		RoomID string `json:"roomId"`
		Type   string `json:"type"`
	}
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkID(e.Event, "roomId", in.RoomID); err != nil {
		return err
	}
	switch in.Type {
	case "":
		in.Type = TypeGroup
	case TypeGroup, TypeDirect:
	default:
		return signaling.Errorf(signaling.CodeBadRequest, "start_meeting: type must be %q or %q", TypeDirect, TypeGroup)
	}
	u := s.User()
	if err := svc.requireMember(ctx, in.RoomID, u.ID); err != nil {
		return err
	}
	now := svc.now().UnixMilli()
	m := Meeting{
		RoomID:       in.RoomID,
		Host:         u,
		Type:         in.Type,
		MeetingLink:  svc.link(in.RoomID),
		Status:       StatusActive,
		CreatedAt:    now,
		Participants: []Participant{{User: u, JoinedAt: now, Sessions: []string{s.ID()}}},
	}
	if err := svc.store.Create(ctx, m); err != nil {
		if errors.Is(err, ErrConflict) {
			return signaling.Errorf(signaling.CodeConflict, "a meeting is already active in room %q", in.RoomID)
		}
		return fmt.Errorf("meeting: start %s: %w", in.RoomID, err)
	}
	// The first publication decides: if the host cannot be told, nothing happened.
	undo := func(cause error) error {
		if err := svc.store.Delete(ctx, in.RoomID); err != nil {
			svc.log.Error("meeting: undo start failed", "room", in.RoomID, "err", err)
		}
		return fmt.Errorf("meeting: start %s: %w", in.RoomID, cause)
	}
	if err := svc.subscribe(ctx, s, in.RoomID); err != nil {
		return undo(err)
	}
	if err := svc.hub.Publish(ctx, signaling.UserTopic(u.ID), signaling.Envelope{Event: "meeting_started", Data: m}); err != nil {
		svc.unbindSessions(ctx, in.RoomID, []string{s.ID()})
		return undo(err)
	}
	svc.publish(ctx, svc.roomTopic(in.RoomID), "meeting_invitation", m, signaling.ExceptUser(u.ID))
	svc.log.Debug("meeting: started", "room", in.RoomID, "host", u.ID)
	return nil
}

// getRoomInfo: {roomId} or the bare string roomId. Members only. The reply is the active meeting
// with `onlineUsers` and `iceServers`, or {roomId, status: "inactive"}.
func (svc *Service) getRoomInfo(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var roomID string
	if raw := bytes.TrimSpace(e.Raw()); len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &roomID); err != nil {
			return signaling.Errorf(signaling.CodeBadRequest, "get_room_info: data: %v", err)
		}
		if err := checkID(e.Event, "roomId", roomID); err != nil {
			return err
		}
	} else {
		var err error
		if roomID, err = bindRoom(e); err != nil {
			return err
		}
	}
	u := s.User()
	if err := svc.requireMember(ctx, roomID, u.ID); err != nil {
		return err
	}
	m, err := svc.active(ctx, roomID)
	if signaling.ErrorCode(err) == signaling.CodeNotFound {
		return s.Reply(ctx, e, "room_info_response", inactiveInfo{RoomID: roomID, Status: StatusInactive})
	}
	if err != nil {
		return err
	}
	online, err := svc.onlineUsers(ctx, &m, u.ID)
	if err != nil {
		return err
	}
	info := roomInfo{
		wireMeeting: m.wire(),
		OnlineUsers: online,
		ICEServers:  svc.iceServers(u.ID),
	}
	if m.Host.ID == u.ID {
		info.Knocks, info.Removed = m.waiting(), m.Removed
	}
	return s.Reply(ctx, e, "room_info_response", info)
}

// onlineUsers lists the room's online members through Online, or else the meeting's connected
// participants; the requester is always listed.
func (svc *Service) onlineUsers(ctx context.Context, m *Meeting, requester string) ([]string, error) {
	var ids []string
	if svc.online != nil {
		members, err := svc.members.Members(ctx, m.RoomID)
		if err != nil {
			return nil, fmt.Errorf("meeting: members of %s: %w", m.RoomID, err)
		}
		all := make([]string, len(members))
		for i, u := range members {
			all[i] = u.ID
		}
		if ids, err = svc.online.Online(ctx, all); err != nil {
			return nil, fmt.Errorf("meeting: online members of %s: %w", m.RoomID, err)
		}
	} else {
		for _, p := range m.Participants {
			if p.connected() {
				ids = append(ids, p.User.ID)
			}
		}
	}
	if !slices.Contains(ids, requester) {
		ids = append(ids, requester)
	}
	return ids, nil
}

// joinMeeting: {roomId, hostId?}. Adds the sender (a member) as participant, or takes it back
// (a rejoin), and binds this session. The joiner gets `meeting_joined`; `meeting_user_joined`
// goes to hostId's bound sessions when hostId names another participant (nothing when it names
// no connected participant), else to every other participant's bound sessions.
func (svc *Service) joinMeeting(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in struct {
		RoomID string `json:"roomId"`
		HostID string `json:"hostId"`
	}
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkID(e.Event, "roomId", in.RoomID); err != nil {
		return err
	}
	u, sid := s.User(), s.ID()
	if err := svc.requireMember(ctx, in.RoomID, u.ID); err != nil {
		return err
	}
	// A locked meeting, or a user the host removed: the lobby answers (lobby.go).
	if done, err := svc.lobby(ctx, s, e, in.RoomID); done {
		return err
	}
	var (
		after            Meeting
		rejoin, wasBound bool
	)
	// Subscribe before joining: a participant who joins right after us sends its
	// meeting_user_joined to us as soon as its update is stored, and we must not miss it.
	topic := Topic(in.RoomID)
	hadTopic := slices.Contains(s.Topics(), topic)
	if err := svc.hub.Subscribe(ctx, sid, topic); err != nil {
		return fmt.Errorf("meeting: join %s: %w", in.RoomID, err)
	}
	err := svc.update(ctx, in.RoomID, func(m *Meeting) error {
		p := m.Participant(u.ID)
		rejoin = p != nil
		if p == nil {
			if err := refuseRemoved(m, u.ID); err != nil {
				return err
			}
			if len(m.Participants) >= svc.o.MaxParticipants {
				return signaling.Errorf(signaling.CodeMeetingFull, "the meeting in room %q has %d participants, the most it takes", in.RoomID, svc.o.MaxParticipants)
			}
			m.Participants = append(m.Participants, Participant{User: u, JoinedAt: svc.now().UnixMilli()})
			p = &m.Participants[len(m.Participants)-1]
		}
		wasBound = p.bind(sid)
		if m.Host.ID == u.ID {
			m.HostAwaySince = 0
		}
		m.EmptySince = 0
		after = *m
		return nil
	})
	if err != nil {
		if !hadTopic {
			_ = svc.hub.Unsubscribe(ctx, sid, topic)
		}
		return err
	}
	if err := svc.subscribe(ctx, s, in.RoomID); err != nil {
		svc.undoJoin(in.RoomID, u.ID, sid, rejoin, wasBound)
		return fmt.Errorf("meeting: join %s: %w", in.RoomID, err)
	}
	svc.disarm(graceKey(in.RoomID, u.ID))
	if after.Host.ID == u.ID {
		svc.disarm(hostKey(in.RoomID))
	}
	svc.disarm(emptyKey(in.RoomID))
	if err := s.Reply(ctx, e, "meeting_joined", joined{RoomID: in.RoomID, Participants: wireParticipants(after.Participants), Locked: after.Locked}); err != nil {
		return err
	}
	if in.HostID == "" {
		svc.announceJoin(ctx, &after, u, rejoin)
	} else if in.HostID != u.ID {
		if p := after.Participant(in.HostID); p != nil && p.connected() {
			ev := userEvent{User: u, RoomID: in.RoomID, Rejoin: rejoin}
			svc.publish(ctx, topic, "meeting_user_joined", ev, signaling.OnlyUser(in.HostID))
		}
	}
	return nil
}

// announceJoin sends `meeting_user_joined` for u, who has just joined the meeting after (a
// rejoin when rejoin), to those who are to offer to u.
func (svc *Service) announceJoin(ctx context.Context, after *Meeting, u signaling.User, rejoin bool) {
	topic := Topic(after.RoomID)
	ev := userEvent{User: u, RoomID: after.RoomID, Rejoin: rejoin}
	if rejoin {
		// Everyone rebuilds its connection to a returning participant.
		svc.publish(ctx, topic, "meeting_user_joined", ev, signaling.ExceptUser(u.ID))
		return
	}
	// Only those who joined before u hear of u, and offer. Someone joining at the same moment
	// after u does not: u hears of them instead and offers to them. So every pair gets exactly
	// one offer, even when two participants join together.
	for _, p := range after.Participants {
		if p.User.ID == u.ID {
			break
		}
		svc.publish(ctx, topic, "meeting_user_joined", ev, signaling.OnlyUser(p.User.ID))
	}
}

// undoJoin takes back a join whose subscription failed.
func (svc *Service) undoJoin(roomID, userID, sid string, rejoin, wasBound bool) {
	if wasBound {
		return
	}
	ctx, cancel := svc.bounded()
	defer cancel()
	err := svc.update(ctx, roomID, func(m *Meeting) error {
		if !rejoin {
			m.remove(userID)
			return nil
		}
		if p := m.Participant(userID); p != nil {
			p.Sessions = slices.DeleteFunc(p.Sessions, func(x string) bool { return x == sid })
		}
		return nil
	})
	if err != nil {
		svc.log.Error("meeting: undo join failed", "room", roomID, "user", userID, "err", err)
	}
}

// leaveMeeting: {roomId}. Removes the sender from the participants and unbinds its sessions;
// `meeting_user_left` goes to the remaining participants. The host stays host (no host grace
// starts); with nobody left the empty timeout starts. Leaving a meeting one is not in does
// nothing.
func (svc *Service) leaveMeeting(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	roomID, err := bindRoom(e)
	if err != nil {
		return err
	}
	u := s.User()
	var (
		gone              Participant
		left, empty, host bool
	)
	err = svc.update(ctx, roomID, func(m *Meeting) error {
		gone, left = m.remove(u.ID)
		if !left {
			return errSkip
		}
		host = m.Host.ID == u.ID
		if host {
			m.HostAwaySince = 0
		}
		empty = len(m.Participants) == 0
		if empty {
			m.EmptySince = svc.now().UnixMilli()
		}
		return nil
	})
	if errors.Is(err, errSkip) || signaling.ErrorCode(err) == signaling.CodeNotFound {
		// Not a participant: members learn nothing more than they could see; others are refused.
		if merr := svc.requireMember(ctx, roomID, u.ID); merr != nil {
			return merr
		}
		if errors.Is(err, errSkip) {
			return svc.withdrawKnock(ctx, roomID, u.ID) // one who waits at a locked meeting gives up
		}
		return err
	}
	if err != nil {
		return err
	}
	svc.disarm(graceKey(roomID, u.ID))
	if host {
		svc.disarm(hostKey(roomID)) // the host left on purpose: no host grace
	}
	svc.bindingsOf(s).remove(roomID)
	svc.unbindSessions(ctx, roomID, gone.sessions())
	svc.publish(ctx, Topic(roomID), "meeting_user_left", userEvent{User: gone.User, RoomID: roomID}, signaling.ExceptUser(u.ID))
	if empty {
		svc.armEmpty(roomID)
	}
	return nil
}

// stopMeeting: {roomId}. Host only. Ends the meeting with reason "stopped".
func (svc *Service) stopMeeting(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	roomID, err := bindRoom(e)
	if err != nil {
		return err
	}
	u := s.User()
	if err := svc.requireMember(ctx, roomID, u.ID); err != nil {
		return err
	}
	return svc.endMeeting(ctx, roomID, ReasonStopped, s.ID(), func(m *Meeting) error {
		if m.Host.ID != u.ID {
			return signaling.Errorf(signaling.CodeForbidden, "only the host stops the meeting")
		}
		return nil
	})
}

// mediaState: {roomId, audio?, video?, screen?, hand?}. Participants only. Fields left out keep
// their value. The state is stored and sent to the other participants as {roomId, user, audio,
// video, screen, hand}.
func (svc *Service) mediaState(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	var in struct {
		RoomID string `json:"roomId"`
		Audio  *bool  `json:"audio"`
		Video  *bool  `json:"video"`
		Screen *bool  `json:"screen"`
		Hand   *bool  `json:"hand"`
	}
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkID(e.Event, "roomId", in.RoomID); err != nil {
		return err
	}
	u := s.User()
	var media Media
	err := svc.update(ctx, in.RoomID, func(m *Meeting) error {
		p := m.Participant(u.ID)
		if p == nil {
			return signaling.Errorf(signaling.CodeForbidden, "not a participant of the meeting in room %q", in.RoomID)
		}
		set := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		set(&p.Audio, in.Audio)
		set(&p.Video, in.Video)
		set(&p.Screen, in.Screen)
		set(&p.Hand, in.Hand)
		media = p.Media
		return nil
	})
	if err != nil {
		return err
	}
	svc.publish(ctx, Topic(in.RoomID), "media_state", mediaEvent{RoomID: in.RoomID, User: u, Media: media}, signaling.ExceptUser(u.ID))
	return nil
}
