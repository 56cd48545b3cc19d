package meeting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// Members is the room membership the service consults; chat's membership satisfies it.
type Members interface {
	// IsMember reports whether the user belongs to the room.
	IsMember(ctx context.Context, roomID, userID string) (bool, error)
	// Members returns the room's members.
	Members(ctx context.Context, roomID string) ([]signaling.User, error)
	// Rooms returns the ids of the rooms the user belongs to.
	Rooms(ctx context.Context, userID string) ([]string, error)
}

// Topic names the topic of a room's meeting: the sessions bound to the meeting are subscribed
// to it, and it carries the meeting's own events (`video-signal`, `media_state`,
// `meeting_user_joined`, ...). Events for every member of the room go to Options.RoomTopic.
func Topic(roomID string) string { return "meeting:" + roomID }

// Online tells which users are online; presence's tracker satisfies it.
type Online interface {
	// Online returns those of userIDs that are online.
	Online(ctx context.Context, userIDs []string) ([]string, error)
}

// HostPolicy says what happens when the host has had no session bound to the meeting for
// Options.HostGrace.
type HostPolicy string

// Host policies.
const (
	// HostEnd ends the meeting: `meeting_ended` with reason "host_left".
	HostEnd HostPolicy = "end"
	// HostTransfer makes the oldest remaining participant (a connected one if there is one) the
	// host and announces it with `meeting_host_changed`. With nobody left it acts as HostContinue.
	HostTransfer HostPolicy = "transfer"
	// HostContinue lets the meeting go on without its host; the empty timeout still applies.
	HostContinue HostPolicy = "continue"
)

// Reasons of `meeting_ended`.
const (
	ReasonStopped  = "stopped"
	ReasonEmpty    = "empty"
	ReasonHostLeft = "host_left"
)

// Options configures a Service. Nil options, or a zero field, mean the default; Members is
// required.
type Options struct {
	// Store keeps the meetings. Default: a new MemoryStore (one node, lost on restart).
	Store Store
	// Members answers membership questions (required): only members start, see and join a
	// room's meeting, and catch-up invitations go to the rooms Members.Rooms lists.
	Members Members
	// RoomTopic names the topic on which every member of a room listens, where the service
	// publishes `meeting_invitation`, `meeting_ended` and `meeting_host_changed` (required):
	// chat.RoomTopic, whose topics chat subscribes the members' sessions to.
	RoomTopic func(roomID string) string
	// Online fills `onlineUsers` of `room_info_response` with the room's online members. Nil:
	// `onlineUsers` lists the participants that have a connected session bound to the meeting,
	// plus the requester (the users a mesh client has to connect to).
	Online Online
	// ICE returns the ICE servers of `room_info_response` for a user (Node.Config().ICEServers).
	// Default: the hub's Config().ICEServers.
	ICE func(userID string) []signaling.ICEServer
	// LinkBase prefixes the room id (path-escaped) in `meetingLink`. Default: "/meeting/".
	LinkBase string
	// ParticipantGrace is how long a participant whose last bound session closed stays in the
	// meeting unseen by its peers. Default: 15 s; negative: no grace.
	ParticipantGrace time.Duration
	// HostGrace is how long the host may have no bound session before HostPolicy applies.
	// Default: 30 s; negative: no grace.
	HostGrace time.Duration
	// HostPolicy applies when the host grace runs out. Default: HostEnd.
	HostPolicy HostPolicy
	// EmptyTimeout ends a meeting that has had no participants this long. Default: 60 s;
	// negative: at once.
	EmptyTimeout time.Duration
	// MaxParticipants bounds a meeting's participants (the mesh limit). Default: 8.
	MaxParticipants int
	// Clock drives the graces and timeouts. Default: the hub's Config().Clock, or the wall clock when
	// that is nil.
	Clock clock.Clock
	// Logger receives the service's logs (failures of timers and session hooks). Default: silent.
	Logger *slog.Logger
	// CallTimeout bounds the store and broker calls of each event, session hook and timer: a
	// call still running then fails, and the client gets `unavailable`. Default: 5 s.
	CallTimeout time.Duration

	// The options below apply when Store implements Leaser (meeting/redismeeting does): then the
	// nodes sharing the Store share the timers, each meeting's at one node at a time, and a
	// node that stops or dies hands its timers over (see Leaser).

	// NodeID names this service as the holder of timer leases; the nodes sharing a Store need
	// distinct ids. Default: the hub's Config().NodeID, or a random id when that is empty.
	NodeID string
	// SweepInterval is how often the service reads the Store's active meetings to renew its
	// leases and take over the timers that no live node holds. Default: 5 s; negative: no
	// sweep and no leases, so that every node runs the timers of the events it handled, as with
	// a MemoryStore.
	SweepInterval time.Duration
	// LeaseTTL is how long a lease lasts unless renewed: a dead node's timers are taken over
	// within LeaseTTL + SweepInterval. Default, and minimum: 3 × SweepInterval.
	LeaseTTL time.Duration
}

// Default option values.
const (
	DefaultParticipantGrace = 15 * time.Second
	DefaultHostGrace        = 30 * time.Second
	DefaultEmptyTimeout     = 60 * time.Second
	DefaultMaxParticipants  = 8
	DefaultLinkBase         = "/meeting/"
	DefaultSweepInterval    = 5 * time.Second
	DefaultCallTimeout      = 5 * time.Second
)

// MaxSDPBytes bounds the `sdp` of a `video-signal` (and its `candidate`).
const MaxSDPBytes = 64 << 10

// maxIDBytes bounds room and user ids taken from clients.
const maxIDBytes = 256

// retryDelay is how long a timer whose store operation failed waits before it tries again.
const retryDelay = 5 * time.Second

// closeTimeout bounds the lease releases of Close.
const closeTimeout = 5 * time.Second

// Service runs meetings on a Hub: it handles the meeting events of PROTOCOL.md §7, relays
// `video-signal`, sends catch-up invitations at session start and owns the grace and timeout
// timers. With a Store that implements Leaser, it shares the timers with the other nodes of the
// Store (see Leaser). All methods are safe for concurrent use.
type Service struct {
	hub       signaling.Hub
	store     Store
	leaser    Leaser // nil: every timer is local
	members   Members
	roomTopic func(roomID string) string
	online    Online
	ice       func(string) []signaling.ICEServer
	clock     clock.Clock
	log       *slog.Logger
	o         Options // with defaults filled in

	ctx    context.Context // cancelled by Close; used by timers and hooks
	cancel context.CancelFunc

	mu       sync.Mutex
	closed   bool
	timers   map[timerKey]*timerEntry
	leases   map[string]lease // rooms whose timers this service holds the lease of
	seq      uint64           // orders timers and leases (see sweep)
	sweeping sync.WaitGroup   // a running sweep; Close waits for it
}

// New returns a Service running on hub: it registers the handlers of `start_meeting`,
// `get_room_info`, `join_meeting`, `leave_meeting`, `stop_meeting`, `media_state`,
// `video-signal`, and the host's `moderate`, `lock_meeting`, `admit` and `deny`, and a session
// hook for catch-up invitations and the graces (at signaling.StageCatchUp, so the invitations
// precede presence's `presence_snapshot` whatever order the services are created in,
// PROTOCOL.md §3). opts.Members is required: New returns an error when it or hub is nil, when
// opts.HostPolicy is not one of the HostPolicy constants, or when one of its events has a
// handler already (signaling.ErrHandled).
func New(hub signaling.Hub, opts *Options) (*Service, error) {
	if hub == nil {
		return nil, errors.New("meeting: New: hub is nil")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Members == nil {
		return nil, errors.New("meeting: New: Options.Members is required")
	}
	if o.RoomTopic == nil {
		return nil, errors.New("meeting: New: Options.RoomTopic is required (chat.RoomTopic)")
	}
	if o.Store == nil {
		o.Store = NewMemoryStore(nil)
	}
	cfg := hub.Config()
	if o.ICE == nil {
		o.ICE = cfg.ICEServers
	}
	if o.LinkBase == "" {
		o.LinkBase = DefaultLinkBase
	}
	o.ParticipantGrace = orDefault(o.ParticipantGrace, DefaultParticipantGrace)
	o.HostGrace = orDefault(o.HostGrace, DefaultHostGrace)
	o.EmptyTimeout = orDefault(o.EmptyTimeout, DefaultEmptyTimeout)
	switch o.HostPolicy {
	case "":
		o.HostPolicy = HostEnd
	case HostEnd, HostTransfer, HostContinue:
	default:
		return nil, fmt.Errorf("meeting: New: unknown HostPolicy %q", o.HostPolicy)
	}
	if o.MaxParticipants <= 0 {
		o.MaxParticipants = DefaultMaxParticipants
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Clock == nil {
		o.Clock = cfg.Clock
	}
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.NodeID == "" {
		o.NodeID = cfg.NodeID
		if o.NodeID == "" {
			o.NodeID = randomID()
		}
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepInterval > 0 && o.LeaseTTL < 3*o.SweepInterval {
		o.LeaseTTL = 3 * o.SweepInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc := &Service{
		hub:       hub,
		store:     o.Store,
		members:   o.Members,
		roomTopic: o.RoomTopic,
		online:    o.Online,
		ice:       o.ICE,
		clock:     o.Clock,
		log:       o.Logger,
		o:         o,
		ctx:       ctx,
		cancel:    cancel,
		timers:    map[timerKey]*timerEntry{},
		leases:    map[string]lease{},
	}
	if l, ok := o.Store.(Leaser); ok && o.SweepInterval > 0 {
		svc.leaser = l
	}
	for _, h := range []struct {
		event string
		f     func(context.Context, *signaling.Session, signaling.Envelope) error
	}{
		{"start_meeting", svc.startMeeting},
		{"get_room_info", svc.getRoomInfo},
		{"join_meeting", svc.joinMeeting},
		{"leave_meeting", svc.leaveMeeting},
		{"stop_meeting", svc.stopMeeting},
		{"media_state", svc.mediaState},
		{"video-signal", svc.videoSignal},
		{"moderate", svc.moderate},
		{"lock_meeting", svc.lockMeeting},
		{"admit", svc.admit},
		{"deny", svc.deny},
	} {
		if err := hub.Handle(h.event, svc.guard(h.f)); err != nil {
			cancel()
			return nil, fmt.Errorf("meeting: New: %w", err)
		}
	}
	// After chat subscribed the rooms, before presence's snapshot (signaling.Stage).
	hub.OnSessionAt(signaling.StageCatchUp, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		ctx, cancel := context.WithTimeout(ctx, svc.o.CallTimeout)
		defer cancel()
		svc.onSession(ctx, s, ev)
	})
	svc.armSweep()
	return svc, nil
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Close stops every timer of the service; afterwards its handlers answer `unavailable` and its
// session hook does nothing. Meetings stay in the Store. With a Leaser, Close then releases the
// service's leases (waiting at most 5 s for the Store), so that the other nodes take its timers
// over at their next sweep. Close is idempotent.
func (svc *Service) Close() {
	svc.mu.Lock()
	if svc.closed {
		svc.mu.Unlock()
		return
	}
	svc.closed = true
	timers, leases := svc.timers, svc.leases
	svc.timers, svc.leases = map[timerKey]*timerEntry{}, map[string]lease{}
	svc.mu.Unlock()
	for _, t := range timers {
		t.timer.Stop()
	}
	svc.cancel()
	svc.sweeping.Wait()
	if len(leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	for roomID := range leases {
		if err := svc.leaser.Release(ctx, roomID, svc.o.NodeID); err != nil {
			svc.log.Warn("meeting: release lease", "room", roomID, "err", err)
		}
	}
}

func (svc *Service) isClosed() bool {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	return svc.closed
}

// guard turns a handler of a closed service into an `unavailable` answer.
func (svc *Service) guard(h func(context.Context, *signaling.Session, signaling.Envelope) error) signaling.Handler {
	return signaling.HandlerFunc(func(ctx context.Context, s *signaling.Session, e signaling.Envelope) error {
		if svc.isClosed() {
			return signaling.Errorf(signaling.CodeUnavailable, "meetings are not available")
		}
		ctx, cancel := context.WithTimeout(ctx, svc.o.CallTimeout)
		defer cancel()
		err := h(ctx, s, e)
		var ce *signaling.Error
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, signaling.ErrUnavailable) && !errors.As(err, &ce) {
			err = fmt.Errorf("%w: %w", signaling.ErrUnavailable, err)
		}
		return err
	})
}

func (svc *Service) now() time.Time { return svc.clock.Now() }

// bounded returns the context of a timer's store and broker calls: cancelled by Close, with a
// deadline of CallTimeout.
func (svc *Service) bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(svc.ctx, svc.o.CallTimeout)
}

func (svc *Service) link(roomID string) string { return svc.o.LinkBase + url.PathEscape(roomID) }

func (svc *Service) iceServers(userID string) []signaling.ICEServer {
	if svc.ice == nil {
		return []signaling.ICEServer{}
	}
	if s := svc.ice(userID); s != nil {
		return s
	}
	return []signaling.ICEServer{}
}

// errNoMeeting is the client error for a room without an active meeting.
func errNoMeeting(roomID string) error {
	return signaling.Errorf(signaling.CodeNotFound, "no active meeting in room %q", roomID)
}

// requireMember fails with `forbidden` unless userID belongs to roomID.
func (svc *Service) requireMember(ctx context.Context, roomID, userID string) error {
	ok, err := svc.members.IsMember(ctx, roomID, userID)
	if err != nil {
		return fmt.Errorf("meeting: membership of %s in %s: %w", userID, roomID, err)
	}
	if !ok {
		return signaling.Errorf(signaling.CodeForbidden, "not a member of room %q", roomID)
	}
	return nil
}

// active returns the room's active meeting, or the `not_found` client error.
func (svc *Service) active(ctx context.Context, roomID string) (Meeting, error) {
	m, err := svc.store.Get(ctx, roomID)
	if errors.Is(err, ErrNotFound) || err == nil && !m.Active() {
		return Meeting{}, errNoMeeting(roomID)
	}
	if err != nil {
		return Meeting{}, fmt.Errorf("meeting: get %s: %w", roomID, err)
	}
	return m, nil
}

// update runs f on the room's active meeting through Store.Update. A missing or ending meeting is
// the `not_found` client error; contention the store gave up on is `unavailable`.
func (svc *Service) update(ctx context.Context, roomID string, f func(*Meeting) error) error {
	err := svc.store.Update(ctx, roomID, func(m *Meeting) error {
		if !m.Active() {
			return errNoMeeting(roomID)
		}
		return f(m)
	})
	var ce *signaling.Error
	switch {
	case err == nil || errors.As(err, &ce) || errors.Is(err, errSkip):
		return err
	case errors.Is(err, ErrNotFound):
		return errNoMeeting(roomID)
	case errors.Is(err, ErrConflict):
		return fmt.Errorf("meeting: update %s: %w: %w", roomID, signaling.ErrUnavailable, err)
	}
	return fmt.Errorf("meeting: update %s: %w", roomID, err)
}

// errSkip makes an Update function leave the meeting unchanged, quietly.
var errSkip = errors.New("meeting: nothing to do")

// publish sends an event to a topic; a failure is logged, since what it reports already happened.
func (svc *Service) publish(ctx context.Context, topic, event string, data any, opts ...signaling.PublishOption) {
	if err := svc.hub.Publish(ctx, topic, signaling.Envelope{Event: event, Data: data}, opts...); err != nil {
		svc.log.Error("meeting: publish failed", "topic", topic, "event", event, "err", err)
	}
}

// unbindSessions unsubscribes sessions, wherever they are, from the room's meeting topic.
func (svc *Service) unbindSessions(ctx context.Context, roomID string, sessions []string) {
	for _, id := range sessions {
		if err := svc.hub.Unsubscribe(ctx, id, Topic(roomID)); err != nil {
			svc.log.Warn("meeting: unsubscribe failed", "room", roomID, "session", id, "err", err)
		}
	}
}

// endMeeting ends the room's meeting once, whoever tries: check (if not nil) decides inside the
// atomic update whether it still should end. It marks the meeting inactive, deletes it, stops its
// timers, sends `meeting_ended` to every member session except exceptSession, then the inactive
// `meeting_invitation` to every member, and unbinds the participants' sessions.
func (svc *Service) endMeeting(ctx context.Context, roomID, reason, exceptSession string, check func(*Meeting) error) error {
	var snap Meeting
	err := svc.update(ctx, roomID, func(m *Meeting) error {
		if check != nil {
			if err := check(m); err != nil {
				return err
			}
		}
		m.Status = StatusInactive
		snap = *m
		return nil
	})
	if err != nil {
		return err
	}
	svc.disarmRoom(roomID)
	svc.releaseLease(ctx, roomID)
	if err := svc.store.Delete(ctx, roomID); err != nil {
		// The record is inactive: readers treat it as gone and Create replaces it.
		svc.log.Warn("meeting: delete failed", "room", roomID, "err", err)
	}
	var opts []signaling.PublishOption
	if exceptSession != "" {
		opts = append(opts, signaling.ExceptSession(exceptSession))
	}
	topic := svc.roomTopic(roomID)
	svc.publish(ctx, topic, "meeting_ended", ended{RoomID: roomID, Reason: reason}, opts...)
	svc.publish(ctx, topic, "meeting_invitation", snap)
	for _, p := range snap.Participants {
		svc.unbindSessions(ctx, roomID, p.sessions())
	}
	svc.log.Debug("meeting: ended", "room", roomID, "reason", reason)
	return nil
}

// Payloads of the events the service sends.
type (
	ended struct {
		RoomID string `json:"roomId"`
		Reason string `json:"reason"`
	}
	userEvent struct {
		User   signaling.User `json:"user"`
		RoomID string         `json:"roomId"`
		Rejoin bool           `json:"rejoin,omitempty"`
		// Reason is ReasonRemoved for a participant the host removed, else empty.
		Reason string `json:"reason,omitempty"`
	}
	hostChanged struct {
		RoomID string         `json:"roomId"`
		Host   signaling.User `json:"host"`
	}
	joined struct {
		RoomID       string            `json:"roomId"`
		Participants []wireParticipant `json:"participants"`
		Locked       bool              `json:"locked"`
	}
	mediaEvent struct {
		RoomID string         `json:"roomId"`
		User   signaling.User `json:"user"`
		Media
	}
	inactiveInfo struct {
		RoomID string `json:"roomId"`
		Status string `json:"status"`
	}
	roomInfo struct {
		wireMeeting
		OnlineUsers []string              `json:"onlineUsers"`
		ICEServers  []signaling.ICEServer `json:"iceServers"`
		// Knocks and Removed are told to the host only (lobby.go, moderation.go).
		Knocks  []signaling.User `json:"knocks,omitempty"`
		Removed []signaling.User `json:"removed,omitempty"`
	}
)
