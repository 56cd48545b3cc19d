package meeting_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
	"github.com/matryer/is"
)

// payload asserts that a frame is in the original client's dialect: the value under `payload`.
func payload(t *testing.T, f signalingtest.Frame) signalingtest.Frame {
	t.Helper()
	if !bytes.Contains(f.Raw, []byte(`"payload":`)) || bytes.Contains(f.Raw, []byte(`"data":`)) {
		t.Fatalf("%s is not in the json-payload dialect: %s", f.Event, f.Raw)
	}
	return f
}

// TestOriginalClientSequence plays the original Angular client's meeting flow (PROTOCOL.md §9)
// over the json-payload codec: it sends `data`, reads `event` and `payload`.
func TestOriginalClientSequence(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	host := e.connectWith(alice, signaling.JSONPayload)
	guest := e.connectWith(bob, signaling.JSONPayload)
	other := e.connectWith(carol, signaling.JSONPayload) // a member who stays out of the call

	// The host's call button.
	host.Send("start_meeting", map[string]string{"roomId": "r1"})
	payload(t, host.Expect("meeting_started", wait))
	for _, p := range []*peer{guest, other} {
		inv := bindWire(t, payload(t, p.Expect("meeting_invitation", wait)))
		is.Equal(inv.Status, "active")       // the banner shows
		is.Equal(inv.Host.Username, "Alice") // "<host.username> started a meeting"
	}

	// The host's meeting page: get_room_info after getUserMedia.
	host.Send("get_room_info", map[string]string{"roomId": "r1"})
	info := bindWire(t, payload(t, host.Expect("room_info_response", wait)))
	is.Equal(info.Host.ID, "alice")               // the page sees it hosts
	is.Equal(info.OnlineUsers, []string{"alice"}) // nobody to offer to yet

	// The guest's meeting page: room info, then one join_meeting per online peer.
	guest.Send("get_room_info", map[string]string{"roomId": "r1"})
	info = bindWire(t, payload(t, guest.Expect("room_info_response", wait)))
	is.Equal(info.Status, "active")                      // active
	is.Equal(info.Type, "group")                         // type
	is.Equal(info.Host.ID, "alice")                      // host
	is.Equal(info.OnlineUsers, []string{"alice", "bob"}) // the host, and the requester as in the original
	for _, id := range info.OnlineUsers {
		if id != "bob" {
			guest.Send("join_meeting", map[string]string{"roomId": "r1", "hostId": id})
		}
	}
	var uj userData
	bindTo(t, payload(t, host.Expect("meeting_user_joined", wait)), &uj)
	is.Equal(uj.User.ID, "bob") // the host learns who joined
	is.Equal(uj.RoomID, "r1")   // and where

	// The receiver of meeting_user_joined offers; the guest answers; both trickle candidates.
	exchange := func(host, guest *peer) {
		t.Helper()
		host.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "senderId": "alice", "targetId": "bob", "sdp": "v=0 offer"})
		var sig meeting.Signal
		bindTo(t, payload(t, guest.Expect("video-signal", wait)), &sig)
		is.Equal(sig.Type, "offer")     // the offer
		is.Equal(sig.SenderID, "alice") // keyed by senderId on the guest's side
		is.Equal(sig.SDP, "v=0 offer")  // with its sdp
		guest.Send("video-signal", map[string]any{"type": "answer", "roomId": "r1", "senderId": "bob", "targetId": "alice", "sdp": "v=0 answer"})
		bindTo(t, payload(t, host.Expect("video-signal", wait)), &sig)
		is.Equal(sig.Type, "answer")  // the answer
		is.Equal(sig.SenderID, "bob") // from the guest
		host.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "senderId": "alice", "targetId": "bob", "candidate": candidate})
		bindTo(t, payload(t, guest.Expect("video-signal", wait)), &sig)
		is.Equal(string(sig.Candidate), string(candidate)) // the host's candidate
		guest.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "senderId": "bob", "targetId": "alice", "candidate": candidate})
		bindTo(t, payload(t, host.Expect("video-signal", wait)), &sig)
		is.Equal(sig.SenderID, "bob") // the guest's candidate
	}
	exchange(host, guest)
	settle(t, host, guest)
	none(t, other, "video-signal") // signals reach their target only

	// F5 on the guest: the socket just closes; the reloaded page repeats the same flow.
	e.drop(guest)
	e.clock.Advance(3 * time.Second)
	guest = e.connectWith(bob, signaling.JSONPayload)
	payload(t, guest.Expect("meeting_invitation", wait)) // catch-up at connect
	guest.Send("get_room_info", map[string]string{"roomId": "r1"})
	payload(t, guest.Expect("room_info_response", wait))
	guest.Send("join_meeting", map[string]string{"roomId": "r1", "hostId": "alice"})
	bindTo(t, payload(t, host.Expect("meeting_user_joined", wait)), &uj)
	is.Equal(uj.User.ID, "bob") // the host re-offers to the reloaded guest
	is.True(uj.Rejoin)          // a rejoin (the original client ignores the field)
	exchange(host, guest)
	none(t, host, "meeting_user_left") // the reload showed no leave

	// Hang up, then the host ends the meeting for all.
	guest.Send("leave_meeting", map[string]string{"roomId": "r1"})
	var ul userData
	bindTo(t, payload(t, host.Expect("meeting_user_left", wait)), &ul)
	is.Equal(ul.User.ID, "bob") // peers drop the guest's stream

	flush(t, guest, other)
	host.Send("stop_meeting", map[string]string{"roomId": "r1"})
	for _, p := range []*peer{guest, other} {
		f := payload(t, p.Next(wait))
		is.Equal(f.Event, "meeting_ended") // the others leave the page
		f = payload(t, p.Next(wait))
		is.Equal(f.Event, "meeting_invitation")     // then the banner hides
		is.Equal(bindWire(t, f).Status, "inactive") // with status inactive
	}
	is.Equal(bindWire(t, payload(t, host.Expect("meeting_invitation", wait))).Status, "inactive") // the host too
	guest.Send("get_room_info", map[string]string{"roomId": "r1"})
	is.Equal(bindWire(t, payload(t, guest.Expect("room_info_response", wait))).Status, "inactive") // and the meeting is gone
}

// TestOriginalHostReload: the original client's host never sends join_meeting; after a reload
// it reads room info and offers to every online member. Its first signal binds the new session,
// and takes the host back even after its participant grace ran out.
func TestOriginalHostReload(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	host := e.connectWith(alice, signaling.JSONPayload)
	guest := e.connectWith(bob, signaling.JSONPayload)
	start(t, host, "r1")
	join(t, guest, "r1")

	e.drop(host)
	e.clock.Advance(meeting.DefaultParticipantGrace + time.Second)
	payload(t, guest.Expect("meeting_user_left", wait)) // the grace ran out: peers saw the host go
	host = e.connectWith(alice, signaling.JSONPayload)
	host.Send("get_room_info", map[string]string{"roomId": "r1"})
	info := bindWire(t, payload(t, host.Expect("room_info_response", wait)))
	is.Equal(info.Host.ID, "alice") // still the host
	for _, id := range info.OnlineUsers {
		if id != "alice" {
			host.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "senderId": "alice", "targetId": id, "sdp": "v=0"})
		}
	}
	var sig meeting.Signal
	bindTo(t, payload(t, guest.Expect("video-signal", wait)), &sig)
	is.Equal(sig.SenderID, "alice") // the re-offer arrives
	p := e.stored("r1").Participant("alice")
	is.True(p != nil)                            // the host is a participant again
	is.Equal(p.Sessions, []string{host.session}) // bound on its new session
	e.clock.Advance(meeting.DefaultHostGrace + resumeWindow)
	none(t, guest, "meeting_ended") // the host grace was cancelled
}
