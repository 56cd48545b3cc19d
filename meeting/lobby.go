package meeting

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/huddle-go/huddle/signaling"
)

// The lobby of a locked meeting. The host locks a meeting with `lock_meeting` (moderation.go);
// then a `join_meeting` from a member who is neither a participant nor the host knocks instead
// of joining: the knock is stored in the meeting record (Meeting.Knocks, with the knocking
// session), the joiner gets `knocking {roomId}` and the host's sessions `knock {roomId, user}`.
// The host answers `admit {roomId, userId}`, which joins each knocking session as join_meeting
// would (the session gets `meeting_joined`, wherever it is connected), or `deny`, which sends
// each of them `error forbidden`. A knocking session that ends, or a `leave_meeting` from the
// knocking user, withdraws the knock. Unlocking the meeting admits everyone waiting.
//
// The host learns of every pending knock again when it needs to: at each of its session starts
// (the catch-up sends one `knock` per waiting user), in its `room_info_response` (`knocks`), and
// as the new host after a transfer. Each outcome reaches the host's sessions as
// `knock_resolved {roomId, user, outcome}`, so that every tab of the host drops the knock.
//
// A session that knocked remembers the room among its bindings (sessions.go), as a bound one
// does: its end withdraws the knock, and once admitted, by whichever node, its drop starts the
// participant grace as for any bound session.

// Limits of the lobby: a meeting keeps at most maxKnocks waiting users (more get `meeting_full`)
// and a knock at most maxKnockSessions sessions of its user (more get `conflict`).
const (
	maxKnocks        = 64
	maxKnockSessions = 16
)

// Outcomes of a knock, in `knock_resolved`.
const (
	KnockAdmitted  = "admitted"
	KnockDenied    = "denied"
	KnockWithdrawn = "withdrawn"
)

// Payloads of the lobby's events.
type (
	roomEvent struct {
		RoomID string `json:"roomId"`
	}
	knockEvent struct {
		RoomID string         `json:"roomId"`
		User   signaling.User `json:"user"`
	}
	knockResolved struct {
		RoomID  string         `json:"roomId"`
		User    signaling.User `json:"user"`
		Outcome string         `json:"outcome"`
	}
	// deniedError is the `error` a denied knocker's sessions get: PROTOCOL.md §8's error, for the
	// join_meeting that knocked, with the room.
	deniedError struct {
		signaling.Error
		RoomID string `json:"roomId"`
	}
)

// knockOf returns userID's knock, or nil. The pointer is into m.Knocks.
func (m *Meeting) knockOf(userID string) *Knock {
	for i := range m.Knocks {
		if m.Knocks[i].User.ID == userID {
			return &m.Knocks[i]
		}
	}
	return nil
}

// takeKnock removes userID's knock and returns it.
func (m *Meeting) takeKnock(userID string) (Knock, bool) {
	for i := range m.Knocks {
		if m.Knocks[i].User.ID == userID {
			k := m.Knocks[i]
			m.Knocks = slices.Delete(m.Knocks, i, i+1)
			return k, true
		}
	}
	return Knock{}, false
}

// knocking reports whether session sid of userID waits in m's lobby.
func (m *Meeting) knocking(userID, sid string) bool {
	k := m.knockOf(userID)
	return k != nil && slices.Contains(k.Sessions, sid)
}

// unknock takes the sessions sids out of userID's knock, removing the knock when none of its
// sessions is left. It reports whether any of them knocked, and whether the knock was thereby
// withdrawn.
func (m *Meeting) unknock(userID string, sids []string) (knocked, withdrawn bool) {
	k := m.knockOf(userID)
	if k == nil {
		return false, false
	}
	k.Sessions = slices.DeleteFunc(k.Sessions, func(s string) bool {
		if slices.Contains(sids, s) {
			knocked = true
			return true
		}
		return false
	})
	if knocked && len(k.Sessions) == 0 {
		m.takeKnock(userID)
		return true, true
	}
	return knocked, false
}

// waiting returns the users in the lobby, oldest knock first.
func (m *Meeting) waiting() []signaling.User {
	out := make([]signaling.User, len(m.Knocks))
	for i, k := range m.Knocks {
		out[i] = k.User
	}
	return out
}

// isRemoved reports whether the host removed userID from the meeting.
func (m *Meeting) isRemoved(userID string) bool {
	return slices.ContainsFunc(m.Removed, func(u signaling.User) bool { return u.ID == userID })
}

// refuseRemoved is `forbidden` for a user the host removed, else nil.
func refuseRemoved(m *Meeting, userID string) error {
	if m.isRemoved(userID) {
		return signaling.Errorf(signaling.CodeForbidden, "the host removed you from the meeting in room %q", m.RoomID)
	}
	return nil
}

// lobby runs before join_meeting joins anyone. It reports done, with the answer, when the
// sender may not simply join: a user the host removed is refused, and one who is neither a
// participant nor the host knocks at a locked meeting. Otherwise (the usual case, decided on a
// plain read) join_meeting goes on; a lock that lands between this read and the join's update
// lets that one joiner in, as if the lock had come a moment later.
func (svc *Service) lobby(ctx context.Context, s *signaling.Session, e signaling.Envelope, roomID string) (done bool, err error) {
	u, sid := s.User(), s.ID()
	m, err := svc.active(ctx, roomID)
	if err != nil {
		return true, err
	}
	if m.Participant(u.ID) != nil || !m.Locked && !m.isRemoved(u.ID) {
		return false, nil
	}
	var host signaling.User
	err = svc.update(ctx, roomID, func(m *Meeting) error {
		host = m.Host
		if m.Participant(u.ID) != nil {
			return errSkip
		}
		if err := refuseRemoved(m, u.ID); err != nil {
			return err
		}
		if !m.Locked || m.Host.ID == u.ID {
			return errSkip
		}
		k := m.knockOf(u.ID)
		if k == nil {
			if len(m.Knocks) >= maxKnocks {
				return signaling.Errorf(signaling.CodeMeetingFull, "%d people are waiting to join the meeting in room %q, the most it takes", maxKnocks, roomID)
			}
			m.Knocks = append(m.Knocks, Knock{User: u, At: svc.now().UnixMilli()})
			k = &m.Knocks[len(m.Knocks)-1]
		}
		k.User = u
		if !slices.Contains(k.Sessions, sid) {
			if len(k.Sessions) >= maxKnockSessions {
				return signaling.Errorf(signaling.CodeConflict, "already knocking from %d sessions", maxKnockSessions)
			}
			k.Sessions = append(k.Sessions, sid)
		}
		return nil
	})
	if errors.Is(err, errSkip) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	svc.bindingsOf(s).add(roomID) // its end withdraws the knock; once admitted, it is bound
	if err := s.Reply(ctx, e, "knocking", roomEvent{RoomID: roomID}); err != nil {
		return true, err
	}
	svc.publish(ctx, signaling.UserTopic(host.ID), "knock", knockEvent{RoomID: roomID, User: u})
	svc.log.Debug("meeting: knock", "room", roomID, "user", u.ID)
	return true, nil
}

// admit: {roomId, userId}. Host only. Lets userId in: a removal is undone (the user may join
// again), and a knocking user joins (letIn). Neither waiting nor removed: `not_found`.
func (svc *Service) admit(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	roomID, userID, err := svc.hostTarget(ctx, s, e)
	if err != nil {
		return err
	}
	return svc.letIn(ctx, roomID, userID, s.User().ID)
}

// deny: {roomId, userId}. Host only. Turns a knocking user away: each knocking session gets
// `error {code: "forbidden", event: "join_meeting", roomId}`. Nobody waiting: `not_found`.
func (svc *Service) deny(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
	roomID, userID, err := svc.hostTarget(ctx, s, e)
	if err != nil {
		return err
	}
	hostID := s.User().ID
	var k Knock
	err = svc.update(ctx, roomID, func(m *Meeting) error {
		if err := requireHost(m, hostID); err != nil {
			return err
		}
		var ok bool
		if k, ok = m.takeKnock(userID); !ok {
			return signaling.Errorf(signaling.CodeNotFound, "nobody of id %q waits to join the meeting in room %q", userID, roomID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	refusal := deniedError{
		Error:  signaling.Error{Code: signaling.CodeForbidden, Message: "the host did not let you in", Event: "join_meeting"},
		RoomID: roomID,
	}
	for _, sid := range k.Sessions {
		svc.publish(ctx, signaling.SessionTopic(sid), "error", refusal, signaling.Ephemeral())
	}
	svc.publish(ctx, signaling.UserTopic(hostID), "knock_resolved", knockResolved{RoomID: roomID, User: k.User, Outcome: KnockDenied})
	return nil
}

// letIn admits userID to roomID's meeting for host hostID (empty: no host check, for the
// unlock). It undoes the user's removal, and when the user knocks, joins each knocking session
// as join_meeting would: it subscribes the session to the meeting's topic wherever the session
// is connected, makes the user a participant with the session bound, sends the session
// `meeting_joined` and the participants who joined before `meeting_user_joined`, and the host
// `knock_resolved`. Over MaxParticipants it is `meeting_full` and the user keeps waiting.
func (svc *Service) letIn(ctx context.Context, roomID, userID, hostID string) error {
	check := func(m *Meeting) error {
		if hostID == "" {
			return nil
		}
		return requireHost(m, hostID)
	}
	m, err := svc.active(ctx, roomID)
	if err != nil {
		return err
	}
	if err := check(&m); err != nil {
		return err
	}
	// Subscribe the knocking sessions before they join, as join_meeting does: a participant who
	// joins right after must reach them.
	topic := Topic(roomID)
	var early []string
	if k := m.knockOf(userID); k != nil {
		for _, sid := range k.Sessions {
			if err := svc.hub.Subscribe(ctx, sid, topic); err != nil {
				svc.unbindSessions(ctx, roomID, early)
				return fmt.Errorf("meeting: admit %s to %s: %w", userID, roomID, err)
			}
			early = append(early, sid)
		}
	}
	var (
		after             Meeting
		k                 Knock
		knocked, rejoin   bool
		removed, admitted bool
	)
	err = svc.update(ctx, roomID, func(m *Meeting) error {
		if err := check(m); err != nil {
			return err
		}
		k, knocked = m.takeKnock(userID)
		removed = m.isRemoved(userID)
		rejoin, admitted = false, false
		if !knocked && (!removed || hostID == "") {
			return signaling.Errorf(signaling.CodeNotFound, "nobody of id %q waits to join, or was removed from, the meeting in room %q", userID, roomID)
		}
		m.Removed = slices.DeleteFunc(m.Removed, func(u signaling.User) bool { return u.ID == userID })
		if knocked {
			p := m.Participant(userID)
			rejoin = p != nil
			if p == nil {
				if len(m.Participants) >= svc.o.MaxParticipants {
					return signaling.Errorf(signaling.CodeMeetingFull, "the meeting in room %q has %d participants, the most it takes", roomID, svc.o.MaxParticipants)
				}
				m.Participants = append(m.Participants, Participant{User: k.User, JoinedAt: svc.now().UnixMilli()})
				p = &m.Participants[len(m.Participants)-1]
			}
			for _, sid := range k.Sessions {
				p.bind(sid)
			}
			m.EmptySince = 0
			admitted = true
		}
		after = *m
		return nil
	})
	if err != nil {
		svc.unbindSessions(ctx, roomID, early)
		return err
	}
	if !admitted {
		svc.unbindSessions(ctx, roomID, early) // a removal undone; nobody was waiting
		return nil
	}
	for _, sid := range k.Sessions {
		if !slices.Contains(early, sid) { // knocked after the read above
			if err := svc.hub.Subscribe(ctx, sid, topic); err != nil {
				svc.log.Warn("meeting: admit: subscribe", "room", roomID, "session", sid, "err", err)
			}
		}
	}
	svc.unbindSessions(ctx, roomID, slices.DeleteFunc(early, func(sid string) bool { return slices.Contains(k.Sessions, sid) }))
	svc.disarm(graceKey(roomID, userID))
	svc.disarm(emptyKey(roomID))
	j := joined{RoomID: roomID, Participants: wireParticipants(after.Participants), Locked: after.Locked}
	for _, sid := range k.Sessions {
		svc.publish(ctx, signaling.SessionTopic(sid), "meeting_joined", j)
	}
	svc.announceJoin(ctx, &after, k.User, rejoin)
	svc.publish(ctx, signaling.UserTopic(after.Host.ID), "knock_resolved", knockResolved{RoomID: roomID, User: k.User, Outcome: KnockAdmitted})
	svc.log.Debug("meeting: admitted", "room", roomID, "user", userID)
	return nil
}

// withdrawKnock takes userID's knock out of roomID's lobby (a `leave_meeting` while knocking)
// and tells the host. Nothing waiting changes nothing.
func (svc *Service) withdrawKnock(ctx context.Context, roomID, userID string) error {
	var (
		k    Knock
		host string
	)
	err := svc.update(ctx, roomID, func(m *Meeting) error {
		var ok bool
		if k, ok = m.takeKnock(userID); !ok {
			return errSkip
		}
		host = m.Host.ID
		return nil
	})
	switch {
	case errors.Is(err, errSkip) || signaling.ErrorCode(err) == signaling.CodeNotFound:
		return nil
	case err != nil:
		return err
	}
	svc.withdrawn(ctx, roomID, host, k.User)
	return nil
}

// withdrawn tells the host that user stopped waiting.
func (svc *Service) withdrawn(ctx context.Context, roomID, hostID string, user signaling.User) {
	svc.publish(ctx, signaling.UserTopic(hostID), "knock_resolved", knockResolved{RoomID: roomID, User: user, Outcome: KnockWithdrawn})
}

// sendKnocks sends the host's session s one `knock` per user waiting in m's lobby.
func (svc *Service) sendKnocks(ctx context.Context, s *signaling.Session, m *Meeting) {
	for _, k := range m.Knocks {
		if err := s.Send(ctx, signaling.Envelope{Event: "knock", Data: knockEvent{RoomID: m.RoomID, User: k.User}}); err != nil {
			svc.log.Error("meeting: catch-up: send knock", "session", s.ID(), "room", m.RoomID, "err", err)
			return
		}
	}
}

// unknockStale withdraws the sessions of userID's knock in m's lobby that no node holds any
// more: those of a node that died (UserOffline) or of this node's previous process (Recover).
func (svc *Service) unknockStale(ctx context.Context, m *Meeting, userID string) error {
	k := m.knockOf(userID)
	if k == nil {
		return nil
	}
	stale := slices.DeleteFunc(slices.Clone(k.Sessions), svc.holds)
	if len(stale) == 0 {
		return nil
	}
	var (
		withdrawn bool
		hostID    string
	)
	err := svc.update(ctx, m.RoomID, func(m *Meeting) error {
		var knocked bool
		if knocked, withdrawn = m.unknock(userID, stale); !knocked {
			return errSkip
		}
		hostID = m.Host.ID
		return nil
	})
	switch {
	case errors.Is(err, errSkip) || signaling.ErrorCode(err) == signaling.CodeNotFound:
		return nil
	case err != nil:
		return fmt.Errorf("meeting: withdraw the stale knock of %s in %s: %w", userID, m.RoomID, err)
	}
	if withdrawn {
		svc.withdrawn(ctx, m.RoomID, hostID, k.User)
	}
	return nil
}
