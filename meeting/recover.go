package meeting

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/huddle-go/huddle/signaling"
)

// Recoverable is implemented by Stores whose meetings outlive the process and that serve one
// node alone (meeting/sqlmeeting): what a previous process of this node left in them is for
// Service.Recover to settle. A Store shared by several nodes (meeting/redismeeting) or lost
// with the process (MemoryStore) leaves Recover nothing to do.
type Recoverable interface {
	Leaser
	// SingleNode reports whether the Store serves this node alone, across its restarts.
	SingleNode() bool
}

// Recover picks up, at start, the meetings a previous process of this node left in its Store:
// call it once, after New and before serving, whatever the Store (the root package huddle
// does). It does something only on a Recoverable Store whose SingleNode is true
// (meeting/sqlmeeting); on any other it returns nil at once: a MemoryStore starts empty, and on
// a Store shared by several nodes (meeting/redismeeting) the other nodes' sessions are alive,
// while UserOffline and the sweep already cover a node that died.
//
// The previous process's sessions are gone (a restarted node resumes none of them), so in every
// active meeting the sessions bound there and not held by this node are unbound for good, as if
// each had ended (a knock at a locked meeting from such a session is withdrawn): a participant
// who had one starts its grace now (the host its host grace), and
// rejoins with `join_meeting` when its client reconnects, as the catch-up invitation tells it.
// Then every deadline stored in the meetings (graces and empty timeouts, including those that
// started before the restart and ran out while the node was down) is armed, as the periodic
// sweep would: one that has passed fires at once, and its meeting ends, or its participant
// leaves, exactly once, since a firing timer re-checks the stored deadline in an atomic Update.
// That needs the sweep: with a negative Options.SweepInterval, Recover on such a Store is an
// error.
func (svc *Service) Recover(ctx context.Context) error {
	if r, ok := svc.store.(Recoverable); !ok || !r.SingleNode() {
		return nil
	}
	if svc.leaser == nil {
		return errors.New("meeting: recover: the Store outlives the process but SweepInterval is negative: its stored deadlines would never fire")
	}
	active, err := svc.leaser.Active(ctx)
	if err != nil {
		return fmt.Errorf("meeting: recover: active meetings: %w", err)
	}
	var errs []error
	for _, m := range active {
		for _, k := range m.Knocks {
			if err := svc.unknockStale(ctx, &m, k.User.ID); err != nil {
				errs = append(errs, err)
			}
		}
		for _, p := range m.Participants {
			uid := p.User.ID
			stale := slices.DeleteFunc(p.sessions(), svc.holds)
			if len(stale) == 0 {
				continue
			}
			err := svc.update(ctx, m.RoomID, func(m *Meeting) error {
				if bound, _, _ := svc.away(m, uid, stale, true); !bound {
					return errSkip
				}
				return nil
			})
			switch {
			case errors.Is(err, errSkip) || signaling.ErrorCode(err) == signaling.CodeNotFound:
			case err != nil:
				errs = append(errs, fmt.Errorf("meeting: recover %s: %w", m.RoomID, err))
			}
		}
	}
	// Arm what is stored now, the graces just started included.
	svc.sweep()
	return errors.Join(errs...)
}
