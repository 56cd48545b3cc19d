package wschat

import (
	"encoding/json"
	"strings"
	"sync"

	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/ws"
)

// ResyncedEvent is the name of the event a Resync puts in the Client's Events when it finished
// re-syncing a room; its Data is a ResyncReport. It comes from the client, not from the server,
// and has Seq 0.
const ResyncedEvent = "resynced"

// ResyncReport is the Data of a ResyncedEvent.
type ResyncReport struct {
	RoomID string `json:"roomId"`
	// Messages is how many missed messages the re-sync delivered as `message` events.
	Messages int `json:"messages"`
	// Complete is false when the re-sync stopped early: ResyncLimit was reached, or the server
	// refused `get_history` (Error says with which code: not_found when the last message seen
	// is not in the room's history any more, forbidden when the user left the room).
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"`
}

// DefaultResyncLimit bounds the messages one re-sync fetches per room when ResyncOptions.Limit
// is zero.
const DefaultResyncLimit = 1000

// resyncRef prefixes the refs of the client's own get_history requests.
const resyncRef = "huddle-resync:"

// resyncPage is the limit of each get_history of a re-sync (the server's maximum).
const resyncPage = 100

// ResyncOptions configures NewResync. The zero value of each field means its default.
type ResyncOptions struct {
	// Limit bounds the messages one re-sync fetches per room; beyond it the report says
	// Complete: false. Default: DefaultResyncLimit (1000).
	Limit int
}

// Resync is a ws.ClientHook (ws.ClientOptions.Hook) that re-syncs chat when a reconnect got a
// fresh session (`resumed: false`: the node died, the server restarted, or the resume window
// passed), so that no message is lost. It remembers, for every room the client received a
// `message` of, the id of the last one delivered. After a refused resume it sends, for each
// such room, `get_history {roomId, after: that id}` (PROTOCOL.md §5), page after page, and puts
// the missed messages into Events as `message` events (Seq 0), followed by the live messages of
// the room that arrived meanwhile (held back until then), so that each room's messages come in
// order and once each; then one ResyncedEvent per room reports how it went. The replies to
// these requests (`history` and `error` with a ref starting "huddle-resync:") do not reach
// Events. A room the client got no message of yet is not re-synced; `room_left` forgets a
// room. A `message` whose id was delivered already (among the last 256 of its room) is not
// delivered again, even as the reply to a retry with the same clientMsgId: match
// acknowledgements by clientMsgId. A Resync serves one Client.
type Resync struct {
	limit int

	mu     sync.Mutex
	last   map[string]string      // room id → id of the last message delivered
	recent map[string]*recentIDs  // room id → the ids delivered last
	rooms  map[string]*roomResync // rooms being re-synced
}

var _ ws.ClientHook = (*Resync)(nil)

// recentKept is how many delivered message ids a room remembers, so that a message delivered
// by a re-sync and then again (the reply to a retry of the same clientMsgId) is delivered once.
const recentKept = 256

// recentIDs is a ring of the last message ids delivered in a room.
type recentIDs struct {
	ring []string
	next int
	set  map[string]struct{}
}

// add records id and reports whether it was new.
func (r *recentIDs) add(id string) bool {
	if _, dup := r.set[id]; dup {
		return false
	}
	if len(r.ring) < recentKept {
		r.ring = append(r.ring, id)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % recentKept
	}
	r.set[id] = struct{}{}
	return true
}

// deliveredLocked records that a message of room is delivered; false means it was already.
// r.mu must be held.
func (r *Resync) deliveredLocked(room, id string) bool {
	rec := r.recent[room]
	if rec == nil {
		rec = &recentIDs{set: map[string]struct{}{}}
		r.recent[room] = rec
	}
	if !rec.add(id) {
		return false
	}
	r.last[room] = id
	return true
}

type roomResync struct {
	after   string              // the cursor of the next page
	seen    map[string]struct{} // ids delivered by this re-sync
	held    []ws.Event          // live messages that arrived meanwhile
	fetched int
}

// NewResync returns a Resync for one Client. Nil options mean all defaults.
func NewResync(opts *ResyncOptions) *Resync {
	limit := DefaultResyncLimit
	if opts != nil && opts.Limit > 0 {
		limit = opts.Limit
	}
	return &Resync{limit: limit, last: map[string]string{}, recent: map[string]*recentIDs{}, rooms: map[string]*roomResync{}}
}

// msgRef is the part of a `message` payload a Resync reads.
type msgRef struct {
	ID     string `json:"id"`
	RoomID string `json:"roomId"`
}

// Reconnected starts a re-sync of every room with a last message when the session is fresh, and
// returns the next page request of every room being re-synced: also those that a lost
// connection interrupted.
func (r *Resync) Reconnected(resumed bool) []signaling.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !resumed {
		for room, last := range r.last {
			if r.rooms[room] == nil {
				r.rooms[room] = &roomResync{after: last, seen: map[string]struct{}{}}
			}
		}
	}
	var out []signaling.Envelope
	for room, rs := range r.rooms {
		out = append(out, historyRequest(room, rs.after))
	}
	return out
}

func historyRequest(room, after string) signaling.Envelope {
	return signaling.Envelope{
		Event: "get_history",
		Data:  map[string]any{"roomId": room, "after": after, "limit": resyncPage},
		Ref:   resyncRef + room,
	}
}

// Receive turns one received event into what goes to Events, and the requests to send back (the
// next pages).
func (r *Resync) Receive(ev ws.Event) (out []ws.Event, send []signaling.Envelope) {
	switch {
	case ev.Event == "message":
		var m msgRef
		if json.Unmarshal(ev.Data, &m) != nil || m.RoomID == "" {
			return []ws.Event{ev}, nil
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if rs := r.rooms[m.RoomID]; rs != nil {
			rs.held = append(rs.held, ev)
			return nil, nil
		}
		if !r.deliveredLocked(m.RoomID, m.ID) {
			return nil, nil
		}
		return []ws.Event{ev}, nil
	case ev.Event == "room_left":
		var m msgRef
		if json.Unmarshal(ev.Data, &m) == nil {
			r.mu.Lock()
			delete(r.last, m.RoomID)
			delete(r.recent, m.RoomID)
			r.mu.Unlock()
		}
		return []ws.Event{ev}, nil
	case ev.Event == "history" && strings.HasPrefix(ev.Ref, resyncRef):
		return r.page(strings.TrimPrefix(ev.Ref, resyncRef), ev)
	case ev.Event == "error" && strings.HasPrefix(ev.Ref, resyncRef):
		var e struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(ev.Data, &e)
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.finishLocked(strings.TrimPrefix(ev.Ref, resyncRef), false, e.Code), nil
	}
	return []ws.Event{ev}, nil
}

// page handles one page of a room's re-sync.
func (r *Resync) page(room string, ev ws.Event) ([]ws.Event, []signaling.Envelope) {
	var h struct {
		Messages []json.RawMessage `json:"messages"`
		HasMore  bool              `json:"hasMore"`
	}
	_ = json.Unmarshal(ev.Data, &h)
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := r.rooms[room]
	if rs == nil {
		return nil, nil // a late answer to a finished re-sync
	}
	var out []ws.Event
	for _, raw := range h.Messages {
		var m msgRef
		if json.Unmarshal(raw, &m) != nil || m.ID == "" {
			continue
		}
		rs.after = m.ID
		if _, dup := rs.seen[m.ID]; dup {
			continue
		}
		rs.seen[m.ID] = struct{}{}
		if r.deliveredLocked(room, m.ID) {
			rs.fetched++
			out = append(out, ws.Event{Event: "message", Data: raw})
		}
	}
	switch {
	case h.HasMore && rs.fetched < r.limit:
		return out, []signaling.Envelope{historyRequest(room, rs.after)}
	case h.HasMore:
		return append(out, r.finishLocked(room, false, "")...), nil
	}
	return append(out, r.finishLocked(room, true, "")...), nil
}

// finishLocked ends a room's re-sync: the held live messages not delivered by it follow, then
// the ResyncedEvent. r.mu must be held.
func (r *Resync) finishLocked(room string, complete bool, code string) []ws.Event {
	rs := r.rooms[room]
	if rs == nil {
		return nil
	}
	delete(r.rooms, room)
	var out []ws.Event
	for _, ev := range rs.held {
		var m msgRef
		_ = json.Unmarshal(ev.Data, &m)
		if _, dup := rs.seen[m.ID]; dup || !r.deliveredLocked(room, m.ID) {
			continue
		}
		out = append(out, ev)
	}
	report, _ := json.Marshal(ResyncReport{RoomID: room, Messages: rs.fetched, Complete: complete, Error: code})
	return append(out, ws.Event{Event: ResyncedEvent, Data: report})
}
