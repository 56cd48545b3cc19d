package meeting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/matryer/is"
)

// candidate is an RTCIceCandidateInit as browsers send it.
var candidate = json.RawMessage(`{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}`)

func TestVideoSignalRelay(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	join(t, c, "r1")

	a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "senderId": "mallory", "targetId": "bob", "sdp": "v=0 offer"})
	var sig meeting.Signal
	f := b.Expect("video-signal", wait)
	bindTo(t, f, &sig)
	is.Equal(sig, meeting.Signal{Type: "offer", RoomID: "r1", SenderID: "alice", TargetID: "bob", SDP: "v=0 offer"}) // relayed with the server's senderId, not the client's
	is.Equal(f.Ref, "")                                                                                              // a relay carries no ref

	b.Send("video-signal", map[string]any{"type": "answer", "roomId": "r1", "targetId": "alice", "sdp": "v=0 answer"})
	bindTo(t, a.Expect("video-signal", wait), &sig)
	is.Equal(sig, meeting.Signal{Type: "answer", RoomID: "r1", SenderID: "bob", TargetID: "alice", SDP: "v=0 answer"}) // the answer back

	for _, pair := range [][2]*peer{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		from.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "targetId": to.user.ID, "candidate": candidate})
		bindTo(t, to.Expect("video-signal", wait), &sig)
		is.Equal(sig.Type, "candidate")                    // a candidate
		is.Equal(sig.SenderID, from.user.ID)               // from the sender
		is.Equal(string(sig.Candidate), string(candidate)) // relayed as it came
	}

	settle(t, a, b)
	none(t, c, "video-signal") // a third participant never sees the pair's signals
	none(t, a, "error")        // nothing was refused
	none(t, b, "error")        // nothing was refused
}

func TestVideoSignalReachesBoundSessionsOnly(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b1, b2 := e.connect(alice), e.connect(bob), e.connect(bob)
	start(t, a, "r1")
	join(t, b1, "r1")

	offer := map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": "v=0"}
	a.Send("video-signal", offer)
	b1.Expect("video-signal", wait)
	settle(t, a)
	none(t, b2, "video-signal") // bob's tab that is not in the meeting gets nothing

	// The first signal from a participant's session binds it (the original host after a reload).
	b2.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "targetId": "alice", "candidate": candidate})
	a.Expect("video-signal", wait)
	is.Equal(e.stored("r1").Participant("bob").Sessions, []string{b1.session, b2.session}) // now bound too
	a.Send("video-signal", offer)
	b1.Expect("video-signal", wait)
	b2.Expect("video-signal", wait) // both bound sessions get it
}

func TestVideoSignalRules(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, nil)
	a, b, er, d := e.connect(alice), e.connect(bob), e.connect(erin), e.connect(dave)

	a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": "v=0"})
	is.Equal(expectError(t, a), signaling.CodeNotFound) // no meeting

	start(t, a, "r1")
	join(t, b, "r1")

	er.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "alice", "sdp": "v=0"})
	is.Equal(expectError(t, er), signaling.CodeForbidden) // the sender must be a participant
	a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "erin", "sdp": "v=0"})
	is.Equal(expectError(t, a), signaling.CodeForbidden) // so must the target
	a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "dave", "sdp": "v=0"})
	is.Equal(expectError(t, a), signaling.CodeForbidden) // a non-member is no target
	settle(t, a, er)
	none(t, a, "video-signal")  // nothing was relayed
	none(t, er, "video-signal") // not to the refused target
	none(t, d, "video-signal")  // not to anyone

	cases := []struct {
		name string
		data map[string]any
		code string
	}{
		{"BadType", map[string]any{"type": "bye", "roomId": "r1", "targetId": "bob"}, signaling.CodeBadRequest},
		{"NoTarget", map[string]any{"type": "offer", "roomId": "r1", "sdp": "v=0"}, signaling.CodeBadRequest},
		{"NoRoom", map[string]any{"type": "offer", "targetId": "bob", "sdp": "v=0"}, signaling.CodeBadRequest},
		{"Self", map[string]any{"type": "offer", "roomId": "r1", "targetId": "alice", "sdp": "v=0"}, signaling.CodeBadRequest},
		{"SDPTooLarge", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": strings.Repeat("a", meeting.MaxSDPBytes+1)}, signaling.CodeTooLarge},
		{"SDPTyped", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": 5}, signaling.CodeBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			a.Send("video-signal", tc.data)
			is.Equal(expectError(t, a), tc.code) // the documented code
			none(t, b, "video-signal")           // nothing relayed
		})
	}

	t.Run("SDPAtLimit", func(t *testing.T) {
		is := is.New(t)
		a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": strings.Repeat("a", meeting.MaxSDPBytes)})
		var sig meeting.Signal
		bindTo(t, b.Expect("video-signal", wait), &sig)
		is.Equal(len(sig.SDP), meeting.MaxSDPBytes) // 64 KiB is allowed
	})

	t.Run("TargetUnavailable", func(t *testing.T) {
		is := is.New(t)
		e.drop(b)
		a.Send("video-signal", map[string]any{"type": "offer", "roomId": "r1", "targetId": "bob", "sdp": "v=0"})
		is.Equal(expectError(t, a), signaling.CodeTargetUnavailable) // bob has no connected bound session
	})
}

// countingStore counts the reads of meetings and fails them all while down is set.
type countingStore struct {
	*meeting.MemoryStore
	reads atomic.Int64
	down  atomic.Bool
}

var errStoreDown = fmt.Errorf("%w: store down", signaling.ErrUnavailable)

func (s *countingStore) Get(ctx context.Context, roomID string) (meeting.Meeting, error) {
	s.reads.Add(1)
	if s.down.Load() {
		return meeting.Meeting{}, errStoreDown
	}
	return s.MemoryStore.Get(ctx, roomID)
}

func (s *countingStore) Update(ctx context.Context, roomID string, f func(*meeting.Meeting) error) error {
	s.reads.Add(1)
	if s.down.Load() {
		return errStoreDown
	}
	return s.MemoryStore.Update(ctx, roomID, f)
}

// ICE candidates, many per connection, are authorised by the session's binding on its node: none
// reads the store (they are relayed while the store is down), and a session that is not bound
// is still refused.
func TestVideoSignalCandidatesReadNoStore(t *testing.T) {
	is := is.New(t)
	store := &countingStore{MemoryStore: meeting.NewMemoryStore(nil)}
	e := newEnv(t, &meeting.Options{Store: store})
	a, b, c := e.connect(alice), e.connect(bob), e.connect(carol)
	start(t, a, "r1")
	join(t, b, "r1")
	settle(t, a, b)

	before := store.reads.Load()
	store.down.Store(true)
	const n = 50
	for range n {
		a.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "targetId": "bob", "candidate": candidate})
	}
	for range n {
		var sig meeting.Signal
		bindTo(t, b.Expect("video-signal", wait), &sig)
		is.Equal(sig.SenderID, "alice") // every candidate relayed while the store is down
	}
	settle(t, a)
	is.Equal(store.reads.Load(), before) // and not one store read for them
	none(t, a, "error")

	// carol, a member but no participant, has no binding: her candidate is checked against the
	// store (down: unavailable), then, with the store back, refused.
	c.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "targetId": "bob", "candidate": candidate})
	is.Equal(expectError(t, c), signaling.CodeUnavailable)
	store.down.Store(false)
	c.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "targetId": "bob", "candidate": candidate})
	is.Equal(expectError(t, c), signaling.CodeForbidden) // a non-participant is still refused
	none(t, b, "video-signal")

	// A participant who left is unbound: her candidates no longer pass.
	b.SendRef("leave_meeting", map[string]string{"roomId": "r1"}, "leave")
	settle(t, b)
	b.Send("video-signal", map[string]any{"type": "candidate", "roomId": "r1", "targetId": "alice", "candidate": candidate})
	is.Equal(expectError(t, b), signaling.CodeForbidden)
	none(t, a, "video-signal")
}

// stallingStore blocks every read until its context ends, as a frozen backend would, and
// returns the context's error as it is.
type stallingStore struct{ *meeting.MemoryStore }

func (s stallingStore) Get(ctx context.Context, roomID string) (meeting.Meeting, error) {
	<-ctx.Done()
	return meeting.Meeting{}, ctx.Err()
}

// A store call that stalls ends at Options.CallTimeout and the client gets `unavailable`.
func TestStalledStoreCallAnswersUnavailable(t *testing.T) {
	is := is.New(t)
	e := newEnv(t, &meeting.Options{Store: stallingStore{meeting.NewMemoryStore(nil)}, CallTimeout: 100 * time.Millisecond})
	a := e.connect(alice)
	a.SendRef("get_room_info", map[string]string{"roomId": "r1"}, "info")
	code, f := a.ExpectError(wait)
	is.Equal(code, signaling.CodeUnavailable) // bounded, and unavailable rather than internal
	is.Equal(f.Ref, "info")
}
