package redismeeting

import (
	"context"
	"time"

	"github.com/huddle-go/huddle/meeting"
)

// Active returns every active meeting, in no particular order. It reads the index and the
// listed records (in pipelines of up to 512 rooms), and drops the index entries whose record is
// missing or inactive once they are over a minute old.
func (s *Store) Active(ctx context.Context) ([]meeting.Meeting, error) {
	rooms, err := s.rdb.ZRange(ctx, s.indexKey(), 0, -1).Result()
	if err != nil {
		return nil, unavailable("active meetings", err)
	}
	var (
		out   []meeting.Meeting
		stale []string
	)
	err = s.read(ctx, rooms, func(roomID string, m *meeting.Meeting) {
		switch {
		case m == nil || !m.Active():
			stale = append(stale, roomID)
		default:
			out = append(out, *m)
		}
	})
	if err != nil {
		return nil, err
	}
	for len(stale) > 0 {
		n := min(len(stale), batch)
		// A failure leaves the entries for the next call.
		_ = s.unindex(ctx, stale[:n])
		stale = stale[n:]
	}
	return out, nil
}

// Acquire takes or renews owner's lease on roomID's timers until now+ttl, unless another
// owner's lease runs past now. Only the callers' times decide; Redis expires the key after
// twice ttl of its own time, to clean up after owners that are gone.
func (s *Store) Acquire(ctx context.Context, roomID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	px := max(2*ttl.Milliseconds(), 1)
	ok, err := acquireScript.Run(ctx, s.rdb, []string{s.leaseKey(roomID)},
		owner, now.UnixMilli(), now.Add(ttl).UnixMilli(), px).Int()
	if err != nil {
		return false, unavailable("acquire lease "+roomID, err)
	}
	return ok == 1, nil
}

// Release deletes owner's lease on roomID; a lease another owner holds is left alone.
func (s *Store) Release(ctx context.Context, roomID, owner string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.leaseKey(roomID)}, owner).Err(); err != nil {
		return unavailable("release lease "+roomID, err)
	}
	return nil
}
