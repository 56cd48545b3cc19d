package meeting

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/huddle-go/huddle/signaling"
)

// UserOffline tells the service that userID has no session left on any node, as presence knows
// when the user goes offline: wire it to presence.Options.OnChange for the offline status.
//
// A node runs the session hooks that keep the Store's bindings true (a drop or an end starts the
// participant grace). A node that dies without cleaning up runs none, so the sessions it held
// stay bound in the Store as connected, and no grace, host grace or empty timeout ever starts.
// UserOffline closes that gap: in every active meeting of the user's rooms (Members.Rooms) in
// which the user has bound sessions, it unbinds them in one Update, as if each had ended, so
// that the participant grace starts (and the host grace for the host), and the empty timeout
// after them. The timers are armed as for an ended session: here, or with a Leaser by the holder
// of the room's lease (at its next sweep when that is a dead node whose lease has to lapse).
//
// Sessions held by this node (the hub's Session(id) finds them) are alive and left alone, and
// so are sessions bound after the active meetings were read. A session bound on another node by
// a reconnect racing with the user's going offline may be unbound; its participant then leaves
// after the grace unless the client joins again.
//
// The user's knocks at locked meetings (lobby.go) from sessions that no node holds are withdrawn
// the same way.
//
// UserOffline is idempotent: a user without bound sessions changes nothing. It works on a closed
// service too, storing the deadlines for the other nodes' sweeps. A failure in one room does not
// stop the others; the errors are joined.
func (svc *Service) UserOffline(ctx context.Context, userID string) error {
	rooms, err := svc.members.Rooms(ctx, userID)
	if err != nil {
		return fmt.Errorf("meeting: user %s offline: rooms: %w", userID, err)
	}
	if len(rooms) == 0 {
		return nil
	}
	active, err := svc.store.ActiveIn(ctx, rooms)
	if err != nil {
		return fmt.Errorf("meeting: user %s offline: active meetings: %w", userID, err)
	}
	var errs []error
	for _, m := range active {
		if err := svc.unknockStale(ctx, &m, userID); err != nil {
			errs = append(errs, err)
		}
		p := m.Participant(userID)
		if p == nil {
			continue
		}
		stale := slices.DeleteFunc(p.sessions(), svc.holds)
		if len(stale) == 0 {
			continue
		}
		var lost, host bool
		err := svc.update(ctx, m.RoomID, func(m *Meeting) error {
			var bound bool
			bound, lost, host = svc.away(m, userID, stale, true)
			if !bound {
				return errSkip
			}
			return nil
		})
		switch {
		case errors.Is(err, errSkip) || signaling.ErrorCode(err) == signaling.CodeNotFound:
			continue // unbound meanwhile, or the meeting ended
		case err != nil:
			errs = append(errs, fmt.Errorf("meeting: user %s offline: %w", userID, err))
			continue
		}
		svc.log.Debug("meeting: sessions of an offline user unbound", "room", m.RoomID, "user", userID, "sessions", stale)
		svc.armAway(m.RoomID, userID, lost, host)
	}
	return errors.Join(errs...)
}

// holds reports whether this node holds the session (attached or waiting for a resume).
func (svc *Service) holds(sessionID string) bool {
	return svc.hub.Session(sessionID) != nil
}
