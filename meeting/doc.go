// Package meeting runs the meetings of Huddle: at most one per room, a WebRTC mesh of at most
// eight participants whose offers, answers and ICE candidates the server relays (PROTOCOL.md §7).
//
// Start with New: it takes the signaling.Hub (a *signaling.Node) and Options, and registers the
// handlers of `start_meeting`, `get_room_info`, `join_meeting`, `leave_meeting`, `stop_meeting`,
// `media_state`, `video-signal` and the host's `moderate`, `lock_meeting`, `admit` and `deny`,
// plus a session hook:
//
//	node := signaling.NewNode(nil)
//	svc, err := meeting.New(node, &meeting.Options{
//		Members:   membership,                  // who belongs to which room (chat's membership)
//		RoomTopic: chat.RoomTopic,              // where a room's members listen
//		Online:    tracker,                     // optional: presence, for `onlineUsers`
//		Store:     meeting.NewMemoryStore(nil), // or redismeeting for several nodes
//	})
//	defer svc.Close()
//
// The package never imports chat or presence: it consumes the small Members and Online
// interfaces and the RoomTopic func. The root package's huddle.New wires them to chat and presence, with leaving a
// room (LeaveRoom), a user going offline (UserOffline) and the recovery at start (Recover).
//
// # How the types fit
//
// A Meeting is the state of one room's meeting: host, type, link, creation time and its
// Participants in join order. Each Participant carries its media state and the ids of its
// sessions bound to the meeting. A session is bound by its `start_meeting`, `join_meeting` or
// first `video-signal`: it is subscribed to Topic(roomID), and `video-signal`
// reaches the target's bound sessions only (a publication to that topic restricted with
// signaling.OnlyUser). Events for every member (`meeting_invitation`, `meeting_ended`,
// `meeting_host_changed`) are published to Options.RoomTopic(roomID) (chat.RoomTopic), to
// which chat subscribes every member session.
//
// Every change goes through a Store's atomic Update; MemoryStore serves one node and tests, a
// Redis store several nodes and restarts. A Meeting's JSON is the ActiveMeeting wire object;
// stores serialize it with MarshalBinary, which keeps the server-side fields.
//
// # The host
//
// The host runs the meeting (moderation.go): `moderate` mutes a participant, stops its video,
// lowers its raised hand or removes it (a removed user stays out until the meeting ends or the
// host admits it back), and `lock_meeting` locks the meeting, after which newcomers knock and
// wait in a lobby until the host admits or denies them (lobby.go). The lock, the knocks, the
// removals and the raised hands are fields of the Meeting, so every Store keeps them and they
// hold across reloads and nodes.
//
// # Graces and timeouts
//
// When a participant's last bound session drops (or ends), the participant grace starts: within
// it, a resume of that session or a new `join_meeting` shows peers nothing but, for the join, a
// `meeting_user_joined` with rejoin:true so they rebuild the peer connection. After it,
// `meeting_user_left` goes out and the participant is removed. The host grace does the same for
// the host and then applies the HostPolicy (end, transfer or continue); a host that sends
// `leave_meeting` starts no host grace. A meeting without participants ends after EmptyTimeout.
// The timers run on Options.Clock (the hub's clock by default), so tests drive them with a
// manual clock instead of sleeping; each is owned by the Service, re-checks its deadline in the
// store when it fires, and is stopped when its meeting ends or the Service closes.
//
// # Several nodes
//
// The deadlines live in the stored Meeting (Participant.DroppedAt, HostAwaySince, EmptySince).
// With a Store that implements Leaser (meeting/redismeeting), the Services of several nodes
// share the timers: one node at a time holds a meeting's lease and runs its timers, and every
// Options.SweepInterval each node reads the active meetings to renew its leases and take over
// those that lapsed. Close releases the node's leases; a killed node's lapse after
// Options.LeaseTTL. So a meeting started on one node goes on when that node stops, and another
// node's timers end it when it empties. Whoever fires, the re-check in an atomic Update makes a
// meeting end, and a participant leave, once. With a MemoryStore each node runs the timers of
// the events it handled.
//
// # Concurrency
//
// Service and MemoryStore are safe for concurrent use. Handlers of one session run one at a time
// (signaling guarantees it); everything else is serialized by the Store's atomic Update.
package meeting
