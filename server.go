package huddle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

// Server is a signaling.Node with the chat, presence and meeting services on it, every link
// between them made, and the WebSocket endpoint in front. Create it with New; serve Handler;
// stop it with Shutdown. All methods are safe for concurrent use.
//
// The parts stay reachable for what an application adds: Node for its own events (Handle) and
// publishes, the services for their methods (chat.Service.RemoveMember, say).
type Server struct {
	node     *signaling.Node
	chat     *chat.Service
	presence *presence.Tracker
	meetings *meeting.Service
	handler  http.Handler

	// closers release what New opened, in reverse order, after the services stop.
	closers []func() error

	stop sync.Once
	err  error // of the services' and closers' Close
}

// New builds a Server: the Node (from opts.Node and opts.Broker), then presence, meeting and
// chat over it and the stores, and makes every link between them before any session can run:
//   - chat's `room_joined` lists, and meeting's `room_info_response`, take who is online from
//     presence;
//   - leaving a room (leave_room, chat.Service.RemoveMember) leaves its meeting, before
//     opts.Chat.OnLeave;
//   - meeting admits a room's members by chat's membership, and presence tells those members;
//   - a user who goes offline, on whichever node noticed (a dead node's users included), is
//     unbound from its meetings, so that their graces start (meeting.Service.UserOffline);
//   - meetings a previous process left in a durable store are recovered
//     (meeting.Service.Recover; nothing to do on the memory and Redis stores).
//
// ctx bounds the start's I/O (the recovery). New returns an error, and releases what it made,
// when opts has no Authenticator, sets a field that New sets itself (see Options), or a part
// fails to start.
func New(ctx context.Context, opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Authenticator == nil {
		return nil, errors.New("huddle: New: Options.Authenticator is required (signaling/jwtauth; signaling.DevAuthenticator{} for development only)")
	}
	if err := o.errWired(); err != nil {
		return nil, err
	}

	nodeOpts := o.Node
	nodeOpts.Broker = o.Broker
	nodeOpts.Logger = cmp.Or(nodeOpts.Logger, o.Logger)
	if nodeOpts.Clock == nil {
		nodeOpts.Clock = o.Clock
	}
	s := &Server{node: signaling.NewNode(&nodeOpts)}
	hub := signaling.Hub(s.node)
	if o.WrapHub != nil {
		if hub = o.WrapHub(s.node); hub == nil {
			return nil, s.fail(errors.New("huddle: New: Options.WrapHub returned nil"))
		}
	}

	store, members := o.ChatStore, o.Membership
	if store == nil {
		store, _ = members.(chat.Store)
	}
	if members == nil {
		members, _ = store.(chat.Membership)
	}
	if store == nil || members == nil {
		mem := chat.NewMemoryStore(&chat.MemoryOptions{Clock: s.node.Config().Clock})
		if store == nil {
			store = mem
		}
		if members == nil {
			members = mem
		}
	}

	// Presence first: meeting and chat ask it who is online.
	po := o.Presence
	po.Store, po.Rooms, po.RoomTopic = o.PresenceStore, members, chat.RoomTopic
	po.Logger = cmp.Or(po.Logger, o.Logger)
	var err error
	if s.presence, err = presence.New(hub, &po); err != nil {
		return nil, s.fail(fmt.Errorf("huddle: %w", err))
	}

	mo := o.Meeting
	mo.Store, mo.Members, mo.RoomTopic, mo.Online, mo.ICE = o.MeetingStore, members, chat.RoomTopic, s.presence, s.node.Config().ICEServers
	mo.Logger = cmp.Or(mo.Logger, o.Logger)
	if s.meetings, err = meeting.New(hub, &mo); err != nil {
		return nil, s.fail(fmt.Errorf("huddle: %w", err))
	}
	// Now that meeting exists: an offline user (a dead node's too) leaves its meetings' sessions.
	logger := cmp.Or(mo.Logger, slog.New(slog.DiscardHandler))
	s.presence.OnChange(func(ctx context.Context, e presence.Entry) {
		if e.Status != presence.StatusOffline {
			return
		}
		if err := s.meetings.UserOffline(ctx, e.UserID); err != nil {
			logger.Error("huddle: meetings of an offline user", "user", e.UserID, "err", err)
		}
	})

	co := o.Chat
	co.Store, co.Membership, co.Online = store, members, s.presence
	co.Logger = cmp.Or(co.Logger, o.Logger)
	appLeave := co.OnLeave
	co.OnLeave = func(ctx context.Context, roomID, userID string) error {
		if err := s.meetings.LeaveRoom(ctx, roomID, userID); err != nil {
			return err
		}
		if appLeave != nil {
			return appLeave(ctx, roomID, userID)
		}
		return nil
	}
	if s.chat, err = chat.New(hub, &co); err != nil {
		return nil, s.fail(fmt.Errorf("huddle: %w", err))
	}

	if err := s.meetings.Recover(ctx); err != nil {
		return nil, s.fail(fmt.Errorf("huddle: recovering the stored meetings: %w", err))
	}

	wo := o.WebSocket
	wo.Authenticator = o.Authenticator
	wo.Logger = cmp.Or(wo.Logger, o.Logger)
	if s.handler, err = ws.Handler(s.node, &wo); err != nil {
		return nil, s.fail(fmt.Errorf("huddle: %w", err))
	}
	return s, nil
}

// fail releases what New made before err, and returns err.
func (s *Server) fail(err error) error {
	return errors.Join(err, s.Close()) // no session has run: nothing to wait for
}

// Node returns the signaling.Node: register the application's own events on it (Handle; an
// event a service handles is signaling.ErrHandled), publish to topics, read its Stats.
func (s *Server) Node() *signaling.Node { return s.node }

// Chat returns the chat service.
func (s *Server) Chat() *chat.Service { return s.chat }

// Presence returns the presence tracker.
func (s *Server) Presence() *presence.Tracker { return s.presence }

// Meetings returns the meeting service.
func (s *Server) Meetings() *meeting.Service { return s.meetings }

// Handler returns the WebSocket endpoint (signaling/ws.Handler with Options.Authenticator and
// Options.WebSocket): mount it where clients connect, such as /ws.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown stops the Server in order: the Node first (it stops accepting sessions, flushes and
// closes every session with 1012 so that clients resume, possibly on another node, and waits for
// them or ctx), so that the sessions' ends are recorded by the services; then the services'
// timers, leases and heartbeats (meeting, presence, chat); then what New opened. It returns the
// Node's error (ctx done before the sessions ended) joined with the others. Shut the
// http.Server down first: it does not wait for hijacked WebSocket connections, which are the
// Node's. Shutdown is idempotent: later calls return the first one's error from the services.
func (s *Server) Shutdown(ctx context.Context) error {
	nerr := s.node.Shutdown(ctx)
	s.stop.Do(func() {
		var errs []error
		// A service is nil when New failed before creating it.
		if s.meetings != nil {
			s.meetings.Close()
		}
		if s.presence != nil {
			errs = append(errs, s.presence.Close())
		}
		if s.chat != nil {
			errs = append(errs, s.chat.Close())
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			errs = append(errs, s.closers[i]())
		}
		s.err = errors.Join(errs...)
	})
	return errors.Join(nerr, s.err)
}

// Close stops the Server at once: Shutdown without waiting for the sessions to end.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return s.err // not waiting was the point
	}
	return err
}
