package huddle

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/clock"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

// Options configures a Server. Nil options mean all defaults, except Authenticator, which New
// requires. Every store is an interface whose nil value means a memory store, right for one
// process; the Redis and SQL stores live in their own modules (chat/redischat, chat/sqlchat,
// presence/redispresence, meeting/redismeeting, meeting/sqlmeeting, signaling/redisbroker) and
// plug in here. A Server does not own the stores and broker it is given: closing them is the
// caller's business, after Server.Shutdown.
//
// The Node, Chat, Presence, Meeting and WebSocket fields pass the tuning of each part through
// unchanged. The fields that link the parts are New's to set, and New fails when one of them is
// set there (Chat.Store, Chat.Membership, Chat.Online, Presence.Store, Presence.Rooms,
// Presence.RoomTopic, Meeting.Store, Meeting.Members, Meeting.RoomTopic, Meeting.Online,
// Meeting.ICE, Node.Broker, WebSocket.Authenticator): set the fields of Options instead. Chat.OnLeave and
// Presence.OnChange remain the application's own hooks: OnLeave runs after New's (the user
// leaves the room's meeting first), OnChange beside it (presence.Tracker.OnChange).
type Options struct {
	// Authenticator establishes the user of each WebSocket request (signaling/jwtauth for JSON
	// Web Tokens). Required: New returns an error without one. signaling.DevAuthenticator{}
	// trusts ?user= and is for development only.
	Authenticator signaling.Authenticator

	// ChatStore keeps the messages and Membership records who belongs to which room; one value
	// is usually both (chat.MemoryStore, redischat.Store, sqlchat.Store). Chat's membership
	// also gives presence its audience and meeting its members. Default: when only one is set
	// and it is both, it serves as both; else a chat.MemoryStore.
	ChatStore  chat.Store
	Membership chat.Membership
	// PresenceStore keeps who is online; nodes sharing a Broker must share it. Default: a
	// presence.MemoryStore.
	PresenceStore presence.Store
	// MeetingStore keeps the meetings. Default: a meeting.MemoryStore. New calls
	// meeting.Service.Recover, which settles what a previous process left in a store that
	// outlives it (meeting/sqlmeeting) and does nothing on the others.
	MeetingStore meeting.Store
	// Broker moves events between sessions and nodes. Default: a signaling.MemoryBroker (one
	// process). On a broker shared across processes (signaling/redisbroker), cross-node resume
	// is on by default (signaling.NodeOptions.HandoverTimeout).
	Broker signaling.Broker

	// Logger receives the logs of every part whose own options leave Logger nil. Default:
	// silent.
	Logger *slog.Logger
	// Clock drives the Node and every service, unless Node.Clock is set. Default: the wall clock.
	Clock clock.Clock

	// WrapHub, when set, returns the Hub that chat, presence and meeting register on, given the
	// Node: an application's wrapper, to instrument Publish or wrap a service's handlers in its
	// Handle. Default: the Node itself.
	WrapHub func(node *signaling.Node) signaling.Hub

	// Node tunes the signaling.Node (id, codec, limits, resume, ICE servers).
	Node signaling.NodeOptions
	// Chat tunes the chat service (room policy, message and typing limits).
	Chat chat.Options
	// Presence tunes the presence tracker (node id, heartbeat, OnChange).
	Presence presence.Options
	// Meeting tunes the meeting service (graces, host policy, participants, meeting links).
	Meeting meeting.Options
	// WebSocket tunes Server.Handler (origins, per-IP limits, codec, ping).
	WebSocket ws.Options
}

// errWired lists the pass-through fields that New sets itself.
func (o *Options) errWired() error {
	var wired []string
	set := func(isSet bool, name, instead string) {
		if isSet {
			wired = append(wired, name+" (set "+instead+")")
		}
	}
	set(o.Chat.Store != nil, "Chat.Store", "Options.ChatStore")
	set(o.Chat.Membership != nil, "Chat.Membership", "Options.Membership")
	set(o.Chat.Online != nil, "Chat.Online", "nothing: presence answers it")
	set(o.Presence.Store != nil, "Presence.Store", "Options.PresenceStore")
	set(o.Presence.Rooms != nil, "Presence.Rooms", "Options.Membership")
	set(o.Presence.RoomTopic != nil, "Presence.RoomTopic", "nothing: chat names the rooms' topics")
	set(o.Meeting.Store != nil, "Meeting.Store", "Options.MeetingStore")
	set(o.Meeting.Members != nil, "Meeting.Members", "Options.Membership")
	set(o.Meeting.RoomTopic != nil, "Meeting.RoomTopic", "nothing: chat names the rooms' topics")
	set(o.Meeting.Online != nil, "Meeting.Online", "nothing: presence answers it")
	set(o.Meeting.ICE != nil, "Meeting.ICE", "Options.Node.ICE")
	set(o.Node.Broker != nil, "Node.Broker", "Options.Broker")
	set(o.WebSocket.Authenticator != nil, "WebSocket.Authenticator", "Options.Authenticator")
	if len(wired) == 0 {
		return nil
	}
	return fmt.Errorf("huddle: New: options that New sets itself: %s", strings.Join(wired, ", "))
}
