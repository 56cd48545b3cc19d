package meeting

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/huddle-go/huddle/signaling"
)

// A session is bound to a meeting by its start_meeting, join_meeting or first video-signal there:
// it is subscribed to the meeting topic and listed in its participant's Sessions. The session
// itself remembers the rooms it was bound in (a hint for its hooks; the stored participant is the
// truth), so that a drop, a resume or its end updates those meetings.

// sessionKey is the key of a session's bindings; one per Service.
type sessionKey struct{ svc *Service }

type bindings struct {
	mu    sync.Mutex
	rooms map[string]struct{}
}

func (b *bindings) add(roomID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rooms[roomID] = struct{}{}
}

func (b *bindings) remove(roomID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.rooms, roomID)
}

func (b *bindings) has(roomID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.rooms[roomID]
	return ok
}

func (b *bindings) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.rooms))
	for r := range b.rooms {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func (svc *Service) bindingsOf(s *signaling.Session) *bindings {
	key := sessionKey{svc}
	if b, ok := s.Value(key).(*bindings); ok {
		return b
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if b, ok := s.Value(key).(*bindings); ok {
		return b
	}
	b := &bindings{rooms: map[string]struct{}{}}
	s.Set(key, b)
	return b
}

// subscribe binds s to the room's meeting topic and remembers the binding on the session.
func (svc *Service) subscribe(ctx context.Context, s *signaling.Session, roomID string) error {
	if err := svc.hub.Subscribe(ctx, s.ID(), Topic(roomID)); err != nil {
		return err
	}
	svc.bindingsOf(s).add(roomID)
	return nil
}

func (svc *Service) onSession(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
	if svc.isClosed() {
		return
	}
	switch ev {
	case signaling.SessionConnected:
		svc.catchUp(ctx, s)
	case signaling.SessionDropped:
		svc.sessionAway(ctx, s, false)
	case signaling.SessionGone:
		svc.sessionAway(ctx, s, true)
	case signaling.SessionResumed:
		svc.sessionBack(ctx, s)
	}
}

// startRooms returns the rooms of s's user, read from Members once per session start for every
// service reading the same membership (signaling.Session.StartValue).
func (svc *Service) startRooms(ctx context.Context, s *signaling.Session) ([]string, error) {
	v, err := s.StartValue(svc.members, func() (any, error) { return svc.members.Rooms(ctx, s.User().ID) })
	rooms, _ := v.([]string)
	return rooms, err
}

// catchUp sends the new session one active `meeting_invitation` per active meeting in the user's
// rooms that the user does not host (PROTOCOL.md §3).
func (svc *Service) catchUp(ctx context.Context, s *signaling.Session) {
	u := s.User()
	rooms, err := svc.startRooms(ctx, s) // shared with the other services' hooks
	if err != nil {
		svc.log.Error("meeting: catch-up: rooms", "user", u.ID, "session", s.ID(), "err", err)
		return
	}
	if len(rooms) == 0 {
		return
	}
	active, err := svc.store.ActiveIn(ctx, rooms)
	if err != nil {
		svc.log.Error("meeting: catch-up: active meetings", "user", u.ID, "session", s.ID(), "err", err)
		return
	}
	for _, m := range active {
		if m.Host.ID == u.ID {
			svc.sendKnocks(ctx, s, &m) // the host's new tab learns who waits (lobby.go)
			continue
		}
		if err := s.Send(ctx, signaling.Envelope{Event: "meeting_invitation", Data: m}); err != nil {
			svc.log.Error("meeting: catch-up: send", "session", s.ID(), "room", m.RoomID, "err", err)
		}
	}
}

// sessionAway handles a bound session whose connection dropped (it may resume) or that ended for
// good. When it was its participant's last connected bound session, the participant grace starts
// (and the host grace, for the host); peers see nothing yet.
func (svc *Service) sessionAway(ctx context.Context, s *signaling.Session, gone bool) {
	b := svc.bindingsOf(s)
	uid, sid := s.User().ID, s.ID()
	for _, roomID := range b.list() {
		var lost, host, knocked, withdrawn bool
		var hostID string
		err := svc.update(ctx, roomID, func(m *Meeting) error {
			var bound bool
			bound, lost, host = svc.away(m, uid, []string{sid}, gone)
			knocked, withdrawn, hostID = false, false, m.Host.ID
			if !bound {
				// A knocking session: it withdraws when it ends, and keeps waiting while it
				// may resume.
				if knocked = m.knocking(uid, sid); !knocked || !gone {
					return errSkip
				}
				_, withdrawn = m.unknock(uid, []string{sid})
			}
			return nil
		})
		switch {
		case errors.Is(err, errSkip) && knocked:
			continue
		case errors.Is(err, errSkip) || signaling.ErrorCode(err) == signaling.CodeNotFound:
			b.remove(roomID) // no longer bound there
			continue
		case err != nil:
			svc.log.Error("meeting: session away", "room", roomID, "session", sid, "err", err)
			continue
		case gone:
			b.remove(roomID)
		}
		if withdrawn {
			svc.withdrawn(ctx, roomID, hostID, s.User())
		}
		svc.armAway(roomID, uid, lost, host)
	}
}

// away takes the sessions sids of user uid out of its bound sessions in m, connected or dropped:
// for good when gone, else into Dropped (they may resume). It reports whether any of them was bound (if
// none was, m is unchanged), and whether the participant thereby lost its last connected bound
// session, which starts its grace (DroppedAt), and the host grace (HostAwaySince) when it is the
// host. Pass lost and host to armAway once the change is stored.
func (svc *Service) away(m *Meeting, uid string, sids []string, gone bool) (bound, lost, host bool) {
	p := m.Participant(uid)
	if p == nil {
		return false, false, false
	}
	wasConnected := p.connected()
	for _, sid := range sids {
		if !slices.Contains(p.Sessions, sid) && !slices.Contains(p.Dropped, sid) {
			continue
		}
		bound = true
		p.Sessions = slices.DeleteFunc(p.Sessions, func(x string) bool { return x == sid })
		p.Dropped = slices.DeleteFunc(p.Dropped, func(x string) bool { return x == sid })
		if !gone {
			p.Dropped = append(p.Dropped, sid)
		}
	}
	if wasConnected && !p.connected() {
		now := svc.now().UnixMilli()
		p.DroppedAt = now
		lost = true
		if m.Host.ID == uid {
			m.HostAwaySince = now
			host = true
		}
	}
	return bound, lost, host
}

// armAway arms the graces that away started in roomID's meeting.
func (svc *Service) armAway(roomID, uid string, lost, host bool) {
	if lost {
		svc.armGrace(roomID, uid)
	}
	if host {
		svc.armHost(roomID)
	}
}

// sessionBack handles a resumed session: a dropped binding becomes connected again and cancels
// the graces; a binding whose participant was removed meanwhile is undone.
func (svc *Service) sessionBack(ctx context.Context, s *signaling.Session) {
	b := svc.bindingsOf(s)
	uid, sid := s.User().ID, s.ID()
	rooms := b.list()
	if len(rooms) == 0 {
		rooms = svc.storedBindings(ctx, s, b)
	}
	for _, roomID := range rooms {
		var bound, host, knocking bool
		err := svc.update(ctx, roomID, func(m *Meeting) error {
			bound, host = false, false
			knocking = m.knocking(uid, sid)
			p := m.Participant(uid)
			if p == nil || !slices.Contains(p.Sessions, sid) && !slices.Contains(p.Dropped, sid) {
				return errSkip
			}
			bound = true
			p.bind(sid)
			if m.Host.ID == uid {
				m.HostAwaySince = 0
				host = true
			}
			return nil
		})
		if err != nil && !errors.Is(err, errSkip) && signaling.ErrorCode(err) != signaling.CodeNotFound {
			svc.log.Error("meeting: session resumed", "room", roomID, "session", sid, "err", err)
			continue
		}
		if !bound && knocking {
			continue // still waiting in the lobby
		}
		if !bound {
			// The grace ran out, or the meeting ended, while the session was away.
			svc.unbindSessions(ctx, roomID, []string{sid})
			b.remove(roomID)
			continue
		}
		svc.disarm(graceKey(roomID, uid))
		if host {
			svc.disarm(hostKey(roomID))
		}
	}
}

// storedBindings finds the meetings that list session s as bound, remembers them on s and
// returns their rooms. A session resumed on the node that held it knows its bindings; one handed
// over by another node (a cross-node resume, as after that node's shutdown) knows none, so they
// are read from the store: the active meetings of the user's rooms.
func (svc *Service) storedBindings(ctx context.Context, s *signaling.Session, b *bindings) []string {
	uid, sid := s.User().ID, s.ID()
	rooms, err := svc.members.Rooms(ctx, uid)
	if err != nil || len(rooms) == 0 {
		if err != nil {
			svc.log.Error("meeting: session resumed: rooms", "user", uid, "session", sid, "err", err)
		}
		return nil
	}
	active, err := svc.store.ActiveIn(ctx, rooms)
	if err != nil {
		svc.log.Error("meeting: session resumed: active meetings", "user", uid, "session", sid, "err", err)
		return nil
	}
	var out []string
	for _, m := range active {
		if p := m.Participant(uid); p != nil && (slices.Contains(p.Sessions, sid) || slices.Contains(p.Dropped, sid)) || m.knocking(uid, sid) {
			b.add(m.RoomID)
			out = append(out, m.RoomID)
		}
	}
	return out
}
