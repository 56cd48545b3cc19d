package meeting

import (
	"context"
	"errors"
	"fmt"

	"github.com/huddle-go/huddle/signaling"
)

// LeaveRoom takes userID out of the room's active meeting, as if the user had sent
// leave_meeting from every session: its sessions are unbound (no more `video-signal` or
// `media_state` either way), `meeting_user_left` goes to the other participants, the host
// stays host, and with nobody left the empty timeout starts. Wire it to chat.Options.OnLeave,
// so that leaving a room leaves its meeting. A room without an active meeting, or a user who is
// not a participant, changes nothing. It does not check membership: the user has just left.
func (svc *Service) LeaveRoom(ctx context.Context, roomID, userID string) error {
	var (
		gone              Participant
		left, empty, host bool
	)
	err := svc.update(ctx, roomID, func(m *Meeting) error {
		gone, left = m.remove(userID)
		if !left {
			return errSkip
		}
		host = m.Host.ID == userID
		if host {
			m.HostAwaySince = 0
		}
		empty = len(m.Participants) == 0
		if empty {
			m.EmptySince = svc.now().UnixMilli()
		}
		return nil
	})
	switch {
	case errors.Is(err, errSkip) || signaling.ErrorCode(err) == signaling.CodeNotFound:
		return nil
	case err != nil:
		return fmt.Errorf("meeting: %s leaves room %s: %w", userID, roomID, err)
	}
	svc.disarm(graceKey(roomID, userID))
	if host {
		svc.disarm(hostKey(roomID))
	}
	for _, sid := range gone.sessions() {
		if s := svc.hub.Session(sid); s != nil {
			svc.bindingsOf(s).remove(roomID)
		}
	}
	svc.unbindSessions(ctx, roomID, gone.sessions())
	svc.publish(ctx, Topic(roomID), "meeting_user_left", userEvent{User: gone.User, RoomID: roomID}, signaling.ExceptUser(userID))
	if empty {
		svc.armEmpty(roomID)
	}
	return nil
}
