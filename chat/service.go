package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/signaling"
)

// Defaults of Options.
const (
	DefaultMaxMessageBytes = 4096
	DefaultMaxRoomsPerUser = 100
	DefaultTypingThrottle  = time.Second
	DefaultTypingTimeout   = 6 * time.Second
	DefaultHistoryLimit    = 50
	DefaultCallTimeout     = 5 * time.Second
	MaxHistoryLimit        = 100
	// MaxClientMsgIDBytes bounds a message's clientMsgId; a longer one is `too_large`.
	MaxClientMsgIDBytes = 128
)

// Online tells which users are online; the presence tracker satisfies it. Online returns the
// subset of userIDs that are online, in any order.
type Online interface {
	Online(ctx context.Context, userIDs []string) ([]string, error)
}

// OnlineFunc adapts a function to Online.
type OnlineFunc func(ctx context.Context, userIDs []string) ([]string, error)

// Online calls f(ctx, userIDs).
func (f OnlineFunc) Online(ctx context.Context, userIDs []string) ([]string, error) {
	return f(ctx, userIDs)
}

// Options configures a Service. The zero value of each field means its default.
type Options struct {
	// Store keeps the messages. Default: Membership when it is also a Store, else a MemoryStore
	// shared with Membership.
	Store Store
	// Membership records who belongs to which room. Default: Store when it is also a
	// Membership, else the MemoryStore shared with Store.
	Membership Membership
	// Policy decides who may join a room. Default: OpenRooms.
	Policy Policy
	// Online fills the `online` list of `room_joined`. Default: none (an empty list).
	Online Online
	// RequireJoin makes a `message` to a room its sender has not joined `forbidden`. Default
	// (false): the sender becomes a member first, through the Policy, as in the original server.
	RequireJoin bool
	// MaxMessageBytes bounds a message's content, in bytes; longer is `too_large`. Default: the
	// hub's Config().Limits.MaxMessageBytes, or 4096 when that is zero.
	MaxMessageBytes int
	// MaxRoomsPerUser bounds the rooms a user belongs to; joining one more is `forbidden`.
	// Default: the hub's Config().Limits.MaxRoomsPerSession, or 100 when that is zero.
	MaxRoomsPerUser int
	// TypingThrottle is the shortest time between two `typing` true events forwarded for one
	// user and room. Default: 1 s.
	TypingThrottle time.Duration
	// TypingTimeout is how long a typing user may stay quiet before the server sends
	// `isTyping: false` for it. Default: 6 s.
	TypingTimeout time.Duration
	// Clock drives the message times and the typing timers. Default: the hub's Config().Clock, or the
	// wall clock when that is nil.
	Clock clock.Clock
	// Logger receives the service's logs. Default: silent.
	Logger *slog.Logger
	// OnLeave, when set, runs when a user leaves a room (leave_room, Service.RemoveMember),
	// after the membership is gone and before the others learn it, so that what hangs on it
	// ends too: the reference server has the user leave the room's meeting. An error reaches
	// the client like a store's; leaving again retries it. Default: nothing.
	OnLeave func(ctx context.Context, roomID, userID string) error
	// CallTimeout bounds the store and broker calls of each event and of each session start: a
	// call still running then fails, and the client gets `unavailable`. Default: 5 s.
	CallTimeout time.Duration
}

// Service handles the chat events of PROTOCOL.md §5 on a Hub: join_room, leave_room, message,
// get_history, typing, and the additive get_rooms and add_member. All methods are safe for concurrent use.
type Service struct {
	hub     signaling.Hub
	store   Store
	members Membership
	policy  Policy
	online  Online
	opts    Options // with defaults filled in
	clock   clock.Clock
	log     *slog.Logger
	typing  *typingTracker

	// unpublished holds the (sender, clientMsgId) pairs of messages that may be stored but
	// were not published: the broker failed, or the store call failed in a way that may still
	// have stored the message (a deadline on a stalled store that runs the call afterwards). The
	// client's retry with the same clientMsgId then publishes the stored message to the room
	// instead of only acknowledging it. Bounded; a node forgets them on restart.
	umu         sync.Mutex
	unpublished map[string]struct{}
}

const maxUnpublished = 10000

// unpublishedKey is the key of a sender's clientMsgId in unpublished.
func unpublishedKey(senderID, clientMsgID string) string { return senderID + "\x00" + clientMsgID }

func (s *Service) markUnpublished(key string, yes bool) (was bool) {
	s.umu.Lock()
	defer s.umu.Unlock()
	_, was = s.unpublished[key]
	switch {
	case !yes:
		delete(s.unpublished, key)
	case len(s.unpublished) < maxUnpublished:
		if s.unpublished == nil {
			s.unpublished = map[string]struct{}{}
		}
		s.unpublished[key] = struct{}{}
	}
	return was
}

// New registers the chat handlers and a session hook on hub and returns the Service. Nil
// options mean all defaults; every option has one, so New fails only when hub is nil or one of
// chat's events has a handler already (signaling.ErrHandled); the hub is then not to be served.
func New(hub signaling.Hub, opts *Options) (*Service, error) {
	if hub == nil {
		return nil, errors.New("chat: New: hub is nil")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	cfg := hub.Config()
	if o.Clock == nil {
		o.Clock = cfg.Clock
	}
	o.Clock = clock.Or(o.Clock)
	limits := cfg.Limits
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = cmpOr(limits.MaxMessageBytes, DefaultMaxMessageBytes)
	}
	if o.MaxRoomsPerUser <= 0 {
		o.MaxRoomsPerUser = cmpOr(limits.MaxRoomsPerSession, DefaultMaxRoomsPerUser)
	}
	if o.TypingThrottle <= 0 {
		o.TypingThrottle = DefaultTypingThrottle
	}
	if o.TypingTimeout <= 0 {
		o.TypingTimeout = DefaultTypingTimeout
	}
	if o.Store == nil {
		o.Store, _ = o.Membership.(Store)
	}
	if o.Membership == nil {
		o.Membership, _ = o.Store.(Membership)
	}
	if o.Store == nil || o.Membership == nil {
		mem := NewMemoryStore(&MemoryOptions{Clock: o.Clock})
		if o.Store == nil {
			o.Store = mem
		}
		if o.Membership == nil {
			o.Membership = mem
		}
	}
	if o.Policy == nil {
		o.Policy = OpenRooms
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{
		hub:     hub,
		store:   o.Store,
		members: o.Membership,
		policy:  o.Policy,
		online:  o.Online,
		opts:    o,
		clock:   o.Clock,
		log:     o.Logger,
	}
	s.typing = newTypingTracker(hub, o.Clock, o.TypingThrottle, o.TypingTimeout, o.Logger)
	for _, h := range []struct {
		event string
		f     func(context.Context, *signaling.Session, signaling.Envelope) error
	}{
		{"join_room", s.joinRoom},
		{"leave_room", s.leaveRoom},
		{"message", s.message},
		{"get_history", s.getHistory},
		{"typing", s.typingEvent},
		{"get_rooms", s.getRooms},
		{"add_member", s.addMember},
	} {
		if err := hub.Handle(h.event, s.bounded(h.f)); err != nil {
			s.typing.close()
			return nil, fmt.Errorf("chat: New: %w", err)
		}
	}
	// Rooms first, before catch-up and snapshots (signaling.Stage).
	hub.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, sess *signaling.Session, ev signaling.SessionEvent) {
		ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		defer cancel()
		s.onSession(ctx, sess, ev)
	})
	return s, nil
}

// bounded gives h a context with a deadline of CallTimeout, so that a stalled store or broker
// call ends; a handler error caused by the deadline reaches the client as `unavailable`.
func (s *Service) bounded(h func(context.Context, *signaling.Session, signaling.Envelope) error) signaling.Handler {
	return signaling.HandlerFunc(func(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
		ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		defer cancel()
		return deadlineUnavailable(ctx, h(ctx, sess, e))
	})
}

// deadlineUnavailable marks err as signaling.ErrUnavailable when ctx's deadline caused it.
func deadlineUnavailable(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, signaling.ErrUnavailable) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	var ce *signaling.Error
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("%w: %w", signaling.ErrUnavailable, err)
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Store returns the message store in use.
func (s *Service) Store() Store { return s.store }

// Membership returns the membership in use, for wiring other services (meeting, presence) to the
// same rooms.
func (s *Service) Membership() Membership { return s.members }

// Close stops the typing timers. Typing events handled after Close are checked but no longer
// forwarded; the other events keep working. Close is idempotent.
func (s *Service) Close() error {
	s.typing.close()
	return nil
}

// roomReq is the data of the events that only name a room.
type roomReq struct {
	RoomID string `json:"roomId"`
}

type roomJoined struct {
	RoomID  string           `json:"roomId"`
	Members []signaling.User `json:"members"`
	Online  []string         `json:"online"`
}

func (s *Service) joinRoom(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
	var in roomReq
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkRoomID(e.Event, in.RoomID); err != nil {
		return err
	}
	u := sess.User()
	member, err := s.members.IsMember(ctx, in.RoomID, u.ID)
	if err != nil {
		return fmt.Errorf("chat: join_room: %w", err)
	}
	if err := s.join(ctx, e.Event, u, in.RoomID, member); err != nil {
		return err
	}
	members, err := s.members.Members(ctx, in.RoomID)
	if err != nil {
		return fmt.Errorf("chat: join_room: members: %w", err)
	}
	if members == nil {
		members = []signaling.User{}
	}
	return sess.Reply(ctx, e, "room_joined", roomJoined{RoomID: in.RoomID, Members: members, Online: s.onlineOf(ctx, members)})
}

// join makes u a member of the room (after the Policy and the room limit, unless it is one
// already) and subscribes every session of u to the room.
func (s *Service) join(ctx context.Context, event string, u signaling.User, roomID string, member bool) error {
	if !member {
		if err := s.policy.CanJoin(ctx, u, roomID); err != nil {
			return err
		}
		rooms, err := s.members.Rooms(ctx, u.ID)
		if err != nil {
			return fmt.Errorf("chat: %s: rooms: %w", event, err)
		}
		if len(rooms) >= s.opts.MaxRoomsPerUser {
			return signaling.Errorf(signaling.CodeForbidden, "%s: already a member of %d rooms, the limit", event, len(rooms))
		}
	}
	if err := s.members.Join(ctx, roomID, u); err != nil {
		return fmt.Errorf("chat: %s: join: %w", event, err)
	}
	if err := s.hub.SubscribeUser(ctx, u.ID, RoomTopic(roomID)); err != nil {
		if !member { // leave nothing half-applied
			if lerr := s.members.Leave(context.WithoutCancel(ctx), roomID, u.ID); lerr != nil {
				s.log.Error("undo join failed", "room", roomID, "user", u.ID, "err", lerr)
			}
		}
		return fmt.Errorf("chat: %s: subscribe: %w", event, err)
	}
	if !member {
		// Tell the other members: without it, someone who joins and says nothing stays
		// invisible to them (presence only reports status changes).
		s.announce(ctx, "member_joined", roomID, u)
	}
	return nil
}

// memberEvent is the payload of member_joined and member_left.
type memberEvent struct {
	RoomID string         `json:"roomId"`
	User   signaling.User `json:"user"`
}

// announce publishes a membership change to the room's other members. A failure is logged:
// the change itself is stored, and clients also learn members from room_joined and messages.
func (s *Service) announce(ctx context.Context, event, roomID string, u signaling.User) {
	err := s.hub.Publish(ctx, RoomTopic(roomID), signaling.Envelope{Event: event, Data: memberEvent{RoomID: roomID, User: u}}, signaling.ExceptUser(u.ID))
	if err != nil {
		s.log.Warn("chat: announce "+event, "room", roomID, "user", u.ID, "err", err)
	}
}

// onlineOf returns which members are online; a failing Online is logged and means none.
func (s *Service) onlineOf(ctx context.Context, members []signaling.User) []string {
	if s.online == nil || len(members) == 0 {
		return []string{}
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	on, err := s.online.Online(ctx, ids)
	if err != nil {
		s.log.Warn("online lookup failed", "err", err)
		return []string{}
	}
	if on == nil {
		on = []string{}
	}
	return on
}

func (s *Service) leaveRoom(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
	var in roomReq
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkRoomID(e.Event, in.RoomID); err != nil {
		return err
	}
	if err := s.remove(ctx, e.Event, in.RoomID, sess.User()); err != nil {
		return err
	}
	return sess.Reply(ctx, e, "room_left", roomReq{RoomID: in.RoomID})
}

type messageReq struct {
	RoomID      string `json:"roomId"`
	Content     string `json:"content"`
	ClientMsgID string `json:"clientMsgId"`
}

func (s *Service) message(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
	var in messageReq
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkRoomID(e.Event, in.RoomID); err != nil {
		return err
	}
	switch {
	case in.Content == "":
		return signaling.Errorf(signaling.CodeBadRequest, "message: content is required")
	case len(in.Content) > s.opts.MaxMessageBytes:
		return signaling.Errorf(signaling.CodeTooLarge, "message: content is longer than %d bytes", s.opts.MaxMessageBytes)
	case !utf8.ValidString(in.Content):
		return signaling.Errorf(signaling.CodeBadRequest, "message: content is not valid UTF-8")
	case len(in.ClientMsgID) > MaxClientMsgIDBytes:
		return signaling.Errorf(signaling.CodeTooLarge, "message: clientMsgId is longer than %d bytes", MaxClientMsgIDBytes)
	}
	u := sess.User()
	member, err := s.members.IsMember(ctx, in.RoomID, u.ID)
	if err != nil {
		return fmt.Errorf("chat: message: %w", err)
	}
	if !member {
		if s.opts.RequireJoin {
			return signaling.Errorf(signaling.CodeForbidden, "message: not a member of room %q", in.RoomID)
		}
		if err := s.join(ctx, e.Event, u, in.RoomID, false); err != nil {
			return err
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("chat: message id: %w", err)
	}
	now := s.clock.Now().UTC().Truncate(time.Millisecond)
	m := Message{
		ID:          id.String(),
		RoomID:      in.RoomID,
		Content:     in.Content,
		Sender:      u,
		CreatedAt:   now,
		UpdatedAt:   now,
		ClientMsgID: in.ClientMsgID,
	}
	key := unpublishedKey(u.ID, in.ClientMsgID)
	stored, existing, err := s.store.Append(ctx, m)
	if err != nil {
		if in.ClientMsgID != "" {
			// A stalled store may still run the append after the deadline: the retry must then
			// publish what it finds stored, not only acknowledge it.
			s.markUnpublished(key, true)
		}
		return fmt.Errorf("chat: message: store: %w", err)
	}
	retried := in.ClientMsgID != "" && s.markUnpublished(key, false)
	if existing && !retried {
		// Published the first time; the retry gets its acknowledgement again, and nobody else.
		return sess.Reply(ctx, e, "message", stored)
	}
	ev := signaling.Envelope{Event: "message", Data: stored}
	// One publish id per message: a publish that timed out on a stalled broker may still be
	// run by it, and the retry's publish must then not deliver the message a second time.
	// A retry's own session gets its acknowledgement as a reply, since the first publish may
	// have reached the others already and the retry's is then not delivered again.
	opts := []signaling.PublishOption{signaling.PublishID(stored.ID)}
	if existing {
		opts = append(opts, signaling.ExceptSession(sess.ID()))
	}
	var perr error
	if member {
		perr = s.hub.Publish(ctx, RoomTopic(stored.RoomID), ev, opts...)
	} else {
		// Just joined by sending: the sender's sessions on other nodes may not be subscribed to
		// the room yet, so they get their copy through the user's topic, which every session
		// of the user always has.
		perr = s.hub.Publish(ctx, RoomTopic(stored.RoomID), ev, append(opts, signaling.ExceptUser(u.ID))...)
		if perr == nil {
			perr = s.hub.Publish(ctx, signaling.UserTopic(u.ID), ev, opts...)
		}
	}
	s.typing.stop(ctx, u.ID, in.RoomID)
	if perr != nil {
		if in.ClientMsgID != "" {
			s.markUnpublished(key, true)
		}
		s.log.Warn("chat: message stored but not published", "message", stored.ID, "room", stored.RoomID, "err", perr)
		return signaling.Errorf(signaling.CodeUnavailable, "message %s was stored but not delivered; send it again with the same clientMsgId", stored.ID)
	}
	if existing {
		return sess.Reply(ctx, e, "message", stored)
	}
	return nil
}

type historyReq struct {
	RoomID string `json:"roomId"`
	Before string `json:"before"`
	After  string `json:"after"`
	Limit  *int   `json:"limit"`
}

type historyReply struct {
	RoomID   string    `json:"roomId"`
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"hasMore"`
}

func (s *Service) getHistory(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
	var in historyReq
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkRoomID(e.Event, in.RoomID); err != nil {
		return err
	}
	limit := DefaultHistoryLimit
	if in.Limit != nil {
		limit = *in.Limit
		if limit < 1 || limit > MaxHistoryLimit {
			return signaling.Errorf(signaling.CodeBadRequest, "get_history: limit must be 1..%d", MaxHistoryLimit)
		}
	}
	if in.Before != "" && in.After != "" {
		return signaling.Errorf(signaling.CodeBadRequest, "get_history: before and after exclude each other")
	}
	if err := s.requireMember(ctx, e.Event, sess.User().ID, in.RoomID); err != nil {
		return err
	}
	var (
		msgs   []Message
		more   bool
		err    error
		cursor = in.Before
	)
	if in.After != "" {
		cursor = in.After
		fwd, ok := s.store.(HistoryAfterStore)
		if !ok {
			return signaling.Errorf(signaling.CodeBadRequest, "get_history: this server's store cannot page forward (after)")
		}
		msgs, more, err = fwd.HistoryAfter(ctx, in.RoomID, in.After, limit)
	} else {
		msgs, more, err = s.store.History(ctx, in.RoomID, in.Before, limit)
	}
	if errors.Is(err, ErrNotFound) {
		return signaling.Errorf(signaling.CodeNotFound, "get_history: no message %q in room %q", cursor, in.RoomID)
	}
	if err != nil {
		return fmt.Errorf("chat: get_history: %w", err)
	}
	if msgs == nil {
		msgs = []Message{}
	}
	return sess.Reply(ctx, e, "history", historyReply{RoomID: in.RoomID, Messages: msgs, HasMore: more})
}

func (s *Service) requireMember(ctx context.Context, event, userID, roomID string) error {
	ok, err := s.members.IsMember(ctx, roomID, userID)
	if err != nil {
		return fmt.Errorf("chat: %s: %w", event, err)
	}
	if !ok {
		return signaling.Errorf(signaling.CodeForbidden, "%s: not a member of room %q", event, roomID)
	}
	return nil
}

type typingReq struct {
	RoomID   string `json:"roomId"`
	IsTyping *bool  `json:"isTyping"`
}

func (s *Service) typingEvent(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
	var in typingReq
	if err := e.Bind(&in); err != nil {
		return err
	}
	if err := checkRoomID(e.Event, in.RoomID); err != nil {
		return err
	}
	if in.IsTyping == nil {
		return signaling.Errorf(signaling.CodeBadRequest, "typing: isTyping is required")
	}
	u := sess.User()
	if err := s.requireMember(ctx, e.Event, u.ID, in.RoomID); err != nil {
		return err
	}
	s.typing.set(ctx, u, sess.ID(), in.RoomID, *in.IsTyping)
	return nil
}

type roomsReply struct {
	Rooms []string `json:"rooms"`
}

// getRooms answers the additive `get_rooms {}` with `rooms {rooms: [roomId]}`.
func (s *Service) getRooms(ctx context.Context, sess *signaling.Session, e signaling.Envelope) error {
	rooms, err := s.members.Rooms(ctx, sess.User().ID)
	if err != nil {
		return fmt.Errorf("chat: get_rooms: %w", err)
	}
	if rooms == nil {
		rooms = []string{}
	}
	return sess.Reply(ctx, e, "rooms", roomsReply{Rooms: rooms})
}

// onSession subscribes a starting (or resumed) session to its user's rooms, and ends the typing
// of a session that is gone.
func (s *Service) onSession(ctx context.Context, sess *signaling.Session, ev signaling.SessionEvent) {
	switch ev {
	case signaling.SessionConnected, signaling.SessionResumed:
		if err := s.subscribeRooms(ctx, sess); err != nil {
			// A session that silently misses its rooms is worse than a reconnect.
			s.log.Error("subscribing a session to its rooms failed; closing it", "session", sess.ID(), "user", sess.User().ID, "err", err)
			sess.Close(signaling.StatusTryAgainLater, "chat unavailable")
		}
	case signaling.SessionDropped, signaling.SessionGone:
		s.typing.sessionEnded(sess.ID())
	}
}

func (s *Service) subscribeRooms(ctx context.Context, sess *signaling.Session) error {
	rooms, err := startRooms(ctx, sess, s.members) // read once for every service's hook
	if err != nil {
		return fmt.Errorf("chat: rooms of %s: %w", sess.User().ID, err)
	}
	topics := make([]string, len(rooms))
	for i, r := range rooms {
		topics[i] = RoomTopic(r)
	}
	if err := s.hub.Subscribe(ctx, sess.ID(), topics...); err != nil {
		return fmt.Errorf("chat: subscribe to the rooms of %s: %w", sess.User().ID, err)
	}
	return nil
}
