package meeting

import (
	"context"
	"errors"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// Timers. Each is owned by the Service, keyed by room (and user for a participant's grace), and
// replaced by a later arm of the same key. Deadlines live in the stored Meeting, so a timer that
// fires re-checks them inside an atomic Update: a stale timer does nothing, and of two services
// that fire the same deadline one changes the meeting and announces it, the other finds nothing
// to do. With a Leaser, only the holder of a room's lease arms the room's timers (lease.go).
type timerKind int

const (
	graceTimer timerKind = iota + 1 // a participant's grace; user set
	hostTimer                       // the host grace
	emptyTimer                      // the empty timeout
	sweepTimer                      // the service's sweep (lease.go); room and user empty
)

type timerKey struct {
	room string
	kind timerKind
	user string
}

type timerEntry struct {
	id    uint64    // from svc.seq: a later arm has a larger id
	at    time.Time // when it fires
	timer clock.Timer
}

// arm schedules f after d under key, replacing the key's earlier timer. A closed service arms
// nothing.
func (svc *Service) arm(key timerKey, d time.Duration, f func()) {
	svc.armUnless(key, d, f, nil)
}

// armUnless is arm, except that it keeps the key's current timer when skip reports true for it.
func (svc *Service) armUnless(key timerKey, d time.Duration, f func(), skip func(*timerEntry) bool) {
	svc.mu.Lock()
	if svc.closed {
		svc.mu.Unlock()
		return
	}
	old := svc.timers[key]
	if old != nil && skip != nil && skip(old) {
		svc.mu.Unlock()
		return
	}
	svc.seq++
	id := svc.seq
	e := &timerEntry{id: id, at: svc.now().Add(d)}
	svc.timers[key] = e
	// The clock may run f at once in its own goroutine; f finds its entry by id.
	e.timer = svc.clock.AfterFunc(d, func() {
		svc.mu.Lock()
		cur, ok := svc.timers[key]
		mine := ok && cur.id == id
		if mine {
			delete(svc.timers, key)
		}
		closed := svc.closed
		svc.mu.Unlock()
		if mine && !closed {
			f()
		}
	})
	svc.mu.Unlock()
	if old != nil {
		old.timer.Stop()
	}
}

// disarm stops the key's timer.
func (svc *Service) disarm(key timerKey) {
	svc.mu.Lock()
	e := svc.timers[key]
	delete(svc.timers, key)
	svc.mu.Unlock()
	if e != nil {
		e.timer.Stop()
	}
}

// disarmRoom stops every timer of a room.
func (svc *Service) disarmRoom(roomID string) {
	var stop []*timerEntry
	svc.mu.Lock()
	for k, e := range svc.timers {
		if k.room == roomID {
			stop = append(stop, e)
			delete(svc.timers, k)
		}
	}
	svc.mu.Unlock()
	for _, e := range stop {
		e.timer.Stop()
	}
}

func graceKey(roomID, userID string) timerKey {
	return timerKey{room: roomID, kind: graceTimer, user: userID}
}
func hostKey(roomID string) timerKey  { return timerKey{room: roomID, kind: hostTimer} }
func emptyKey(roomID string) timerKey { return timerKey{room: roomID, kind: emptyTimer} }

// The arms below start a deadline this service has just stored; with a Leaser they arm only
// when the service holds, or takes, the room's lease (otherwise the holder arms the deadline at
// its next sweep).

func (svc *Service) armGrace(roomID, userID string) {
	if !svc.claim(roomID) {
		return
	}
	svc.arm(graceKey(roomID, userID), svc.o.ParticipantGrace, func() { svc.graceExpired(roomID, userID) })
}

func (svc *Service) armHost(roomID string) {
	if !svc.claim(roomID) {
		return
	}
	svc.arm(hostKey(roomID), svc.o.HostGrace, func() { svc.hostGraceExpired(roomID) })
}

func (svc *Service) armEmpty(roomID string) {
	if !svc.claim(roomID) {
		return
	}
	svc.arm(emptyKey(roomID), svc.o.EmptyTimeout, func() { svc.emptyExpired(roomID) })
}

// due reports whether a deadline of since (Unix ms) plus d has passed.
func (svc *Service) due(since int64, d time.Duration) bool {
	return since != 0 && !svc.now().Before(time.UnixMilli(since).Add(d))
}

// retry re-arms key after a failed store operation, unless the meeting is gone.
func (svc *Service) retry(key timerKey, err error, f func()) {
	var ce *signaling.Error
	if errors.Is(err, errSkip) || errors.As(err, &ce) || errors.Is(err, context.Canceled) {
		return // nothing to do, or the meeting is gone (not_found), or the service closed
	}
	svc.log.Error("meeting: timer failed; retrying", "room", key.room, "kind", int(key.kind), "user", key.user, "err", err)
	svc.arm(key, retryDelay, f)
}

// graceExpired removes a participant whose bound sessions stayed away for the participant grace:
// `meeting_user_left` goes to the meeting's sessions (the user's dropped ones included, so that
// a late resume finds it in its replay), and those sessions are unbound.
func (svc *Service) graceExpired(roomID, userID string) {
	ctx, cancel := svc.bounded()
	defer cancel()
	var gone Participant
	var empty bool
	err := svc.update(ctx, roomID, func(m *Meeting) error {
		p := m.Participant(userID)
		if p == nil || p.connected() || !svc.due(p.DroppedAt, svc.o.ParticipantGrace) {
			return errSkip
		}
		gone, _ = m.remove(userID)
		empty = len(m.Participants) == 0
		if empty && m.EmptySince == 0 {
			m.EmptySince = svc.now().UnixMilli()
		}
		return nil
	})
	if err != nil {
		svc.retry(graceKey(roomID, userID), err, func() { svc.graceExpired(roomID, userID) })
		return
	}
	svc.publish(ctx, Topic(roomID), "meeting_user_left", userEvent{User: gone.User, RoomID: roomID})
	svc.unbindSessions(ctx, roomID, gone.sessions())
	if empty {
		svc.armEmpty(roomID)
	}
}

// hostGraceExpired applies the host policy to a host that stayed away for the host grace.
func (svc *Service) hostGraceExpired(roomID string) {
	ctx, cancel := svc.bounded()
	defer cancel()
	away := func(m *Meeting) bool {
		if !svc.due(m.HostAwaySince, svc.o.HostGrace) {
			return false
		}
		p := m.Participant(m.Host.ID)
		return p == nil || !p.connected()
	}
	retry := func(err error) { svc.retry(hostKey(roomID), err, func() { svc.hostGraceExpired(roomID) }) }
	switch svc.o.HostPolicy {
	case HostEnd:
		err := svc.endMeeting(ctx, roomID, ReasonHostLeft, "", func(m *Meeting) error {
			if !away(m) {
				return errSkip
			}
			return nil
		})
		if err != nil {
			retry(err)
		}
	case HostTransfer:
		var host signaling.User
		var rearm bool
		var waiting []signaling.User
		err := svc.update(ctx, roomID, func(m *Meeting) error {
			if !away(m) {
				return errSkip
			}
			waiting = m.waiting()
			next := successor(m)
			if next == nil {
				m.HostAwaySince = 0 // nobody to take over: the empty timeout decides
				host, rearm = signaling.User{}, false
				return nil
			}
			m.Host = next.User
			m.HostAwaySince = 0
			if !next.connected() {
				m.HostAwaySince = svc.now().UnixMilli()
			}
			host, rearm = next.User, !next.connected()
			return nil
		})
		if err != nil {
			retry(err)
			return
		}
		if host.ID != "" {
			svc.publish(ctx, svc.roomTopic(roomID), "meeting_host_changed", hostChanged{RoomID: roomID, Host: host})
			for _, u := range waiting { // the new host answers the lobby now (lobby.go)
				svc.publish(ctx, signaling.UserTopic(host.ID), "knock", knockEvent{RoomID: roomID, User: u})
			}
		}
		if rearm {
			svc.armHost(roomID)
		}
	case HostContinue:
		err := svc.update(ctx, roomID, func(m *Meeting) error {
			if !away(m) {
				return errSkip
			}
			m.HostAwaySince = 0
			return nil
		})
		if err != nil {
			retry(err)
		}
	}
}

// successor picks the next host: the oldest connected participant other than the host, else the
// oldest other participant, else nil.
func successor(m *Meeting) *Participant {
	var fallback *Participant
	for i := range m.Participants {
		p := &m.Participants[i]
		if p.User.ID == m.Host.ID {
			continue
		}
		if p.connected() {
			return p
		}
		if fallback == nil {
			fallback = p
		}
	}
	return fallback
}

// emptyExpired ends a meeting that stayed without participants for the empty timeout.
func (svc *Service) emptyExpired(roomID string) {
	ctx, cancel := svc.bounded()
	defer cancel()
	err := svc.endMeeting(ctx, roomID, ReasonEmpty, "", func(m *Meeting) error {
		if len(m.Participants) > 0 || !svc.due(m.EmptySince, svc.o.EmptyTimeout) {
			return errSkip
		}
		return nil
	})
	if err != nil {
		svc.retry(emptyKey(roomID), err, func() { svc.emptyExpired(roomID) })
	}
}
