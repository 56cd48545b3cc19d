package huddle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/presence"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// fuzzWait bounds each barrier of the node fuzz targets. A reply that takes this long on an
// in-memory connection is a lost reply.
const fuzzWait = 5 * time.Second

// fuzzEvents are the client events of PROTOCOL.md, and replyOf the reply of those that always
// answer (with the request's ref), by a reply event or by an error.
var (
	fuzzEvents = []string{
		"join_room", "leave_room", "message", "get_history", "typing", "get_rooms",
		"start_meeting", "get_room_info", "join_meeting", "leave_meeting", "stop_meeting",
		"media_state", "video-signal", "presence", "get_presence", "ping",
		"moderate", "lock_meeting", "admit", "deny",
	}
	replyOf = map[string]string{
		"join_room": "room_joined", "leave_room": "room_left", "get_history": "history",
		"get_rooms": "rooms", "get_room_info": "room_info_response", "join_meeting": "meeting_joined",
		"get_presence": "presence_snapshot", "ping": "pong",
	}
)

// fuzzWorld is a node with the real chat, meeting and presence services on memory stores, and
// two clients over in-memory pipes: alice and bob, members of room "r", in its meeting, alice
// hosting. Fuzzed frames come from alice.
type fuzzWorld struct {
	alice, bob *signalingtest.Client
}

func newFuzzWorld(t *testing.T) *fuzzWorld {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	node := signaling.NewNode(&signaling.NodeOptions{RateLimit: 1e9, RateBurst: 1 << 30, Logger: quiet})
	rooms := chat.NewMemoryStore(nil)
	chatSvc, err := chat.New(node, &chat.Options{Store: rooms, Membership: rooms, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	meetings, err := meeting.New(node, &meeting.Options{Members: rooms, RoomTopic: chat.RoomTopic, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tracker, err := presence.New(node, &presence.Options{Rooms: rooms, RoomTopic: chat.RoomTopic, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the clients' cleanups, which end their sessions
		ctx, cancel := context.WithTimeout(context.Background(), fuzzWait)
		defer cancel()
		_ = node.Shutdown(ctx)
		meetings.Close()
		tracker.Close()
		_ = chatSvc.Close()
	})
	w := &fuzzWorld{
		alice: signalingtest.Connect(t, node, signaling.User{ID: "alice", Username: "Alice"}, nil),
		bob:   signalingtest.Connect(t, node, signaling.User{ID: "bob", Username: "Bob"}, nil),
	}
	room := map[string]string{"roomId": "r"}
	w.alice.Send("join_room", room)
	w.alice.Expect("room_joined", fuzzWait)
	w.bob.Send("join_room", room)
	w.bob.Expect("room_joined", fuzzWait)
	w.alice.Send("start_meeting", room)
	w.alice.Expect("meeting_started", fuzzWait)
	w.bob.Send("join_meeting", room)
	w.bob.Expect("meeting_joined", fuzzWait)
	return w
}

// send sends one frame from alice and checks, up to a ping barrier, that no `internal` error
// came back and that a request that always answers was answered.
func (w *fuzzWorld) send(t *testing.T, i int, frame []byte) {
	t.Helper()
	barrier := "\x00barrier-" + strconv.Itoa(i)
	e, decodeErr := signaling.JSON.Decode(frame)
	if e.Ref == barrier {
		return // the fuzzer found our barrier's ref; it would be answered twice
	}
	w.alice.SendRaw(frame)
	w.alice.SendRef("ping", struct{}{}, barrier)
	answered := false
	for {
		f := w.alice.Next(fuzzWait) // fails the test when the session died or wedged
		if f.Event == "pong" && f.Ref == barrier {
			break
		}
		if f.Event == "error" {
			var se signaling.Error
			if err := f.Bind(&se); err != nil {
				t.Fatalf("frame %q: error event %s does not bind: %v", frame, f.Raw, err)
			}
			if se.Code == signaling.CodeInternal {
				t.Fatalf("frame %q: internal error %s", frame, f.Raw)
			}
			if decodeErr != nil && se.Code != signaling.CodeBadRequest {
				t.Fatalf("frame %q does not decode (%v) but got %s", frame, decodeErr, f.Raw)
			}
		}
		if e.Ref != "" && f.Ref == e.Ref && (f.Event == "error" || f.Event == replyOf[e.Event]) {
			answered = true
		}
	}
	if decodeErr == nil && e.Ref != "" && replyOf[e.Event] != "" && !answered {
		t.Fatalf("frame %q (%s, ref %q): neither %s nor error before the barrier", frame, e.Event, e.Ref, replyOf[e.Event])
	}
	w.alice.Drain()
}

// FuzzNode sends up to 8 newline-separated frames, whatever they are, to a node with the real
// services: no `internal` error, no panic, no lost reply, and the session survives.
func FuzzNode(f *testing.F) {
	for _, s := range []string{
		`{"event":"message","data":{"roomId":"r","content":"hi","clientMsgId":"c"},"ref":"1"}`,
		`{"event":"get_history","data":{"roomId":"r","limit":2},"ref":"2"}`,
		`{"event":"video-signal","data":{"type":"offer","targetId":"bob","roomId":"r","sdp":"v=0"},"ref":"3"}`,
		`{"event":"media_state","data":{"roomId":"r","audio":false},"ref":"4"}`,
		`{"event":"leave_room","data":{"roomId":"r"},"ref":"5"}` + "\n" + `{"event":"join_meeting","data":{"roomId":"r"},"ref":"6"}`,
		`{"event":"stop_meeting","data":{"roomId":"r"}}` + "\n" + `{"event":"get_room_info","data":{"roomId":"r"},"ref":"7"}`,
		`{"event":"presence","data":{"status":"away"}}` + "\n" + `{"event":"get_presence","data":{"roomId":"r"},"ref":8}`,
		"{\"event\":\"\x7f\",\"ref\":\"9\"}",
		`{"event":"typing","data":{"roomId":"r","isTyping":true}}`,
		`{"event":"join_room","data":{"roomId":"\u0000"},"ref":"a"}`,
		`not json`, `{}`, `{"event":"get_rooms"}`,
		`{"event":"lock_meeting","data":{"roomId":"r","locked":true}}` + "\n" + `{"event":"moderate","data":{"roomId":"r","userId":"bob","action":"remove"},"ref":"b"}` + "\n" + `{"event":"admit","data":{"roomId":"r","userId":"bob"},"ref":"c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		w := newFuzzWorld(t)
		for i, frame := range bytes.SplitN(in, []byte("\n"), 8) {
			w.send(t, i, frame)
		}
	})
}

// FuzzEventData sends each client event with fuzzed data (raw when it is JSON, else as a JSON
// string), so that every handler binds and checks what the fuzzer makes, with the same
// guarantees as FuzzNode.
func FuzzEventData(f *testing.F) {
	for i, d := range []string{
		`{"roomId":"r"}`, `{"roomId":"r","content":"x"}`, `{"roomId":"r","before":"nope"}`,
		`{"roomId":"r","isTyping":false}`, `{}`, `{"roomId":"r","type":"direct"}`, `{"roomId":"r"}`,
		`{"roomId":"r","hostId":"bob"}`, `{"roomId":"r"}`, `{"roomId":"r"}`,
		`{"roomId":"r","video":true}`, `{"type":"candidate","targetId":"bob","roomId":"r","candidate":{}}`,
		`{"status":"online"}`, `null`, `[]`, `{}`,
		`{"roomId":"r","userId":"bob","action":"remove"}`, `{"roomId":"r","locked":true}`,
		`{"roomId":"r","userId":"bob"}`, `{"roomId":"r","userId":"bob"}`,
	} {
		f.Add(uint8(i), []byte(d))
	}
	f.Fuzz(func(t *testing.T, event uint8, data []byte) {
		raw := json.RawMessage(data)
		if !json.Valid(data) {
			raw, _ = json.Marshal(string(data))
		}
		name := fuzzEvents[int(event)%len(fuzzEvents)]
		frame, err := signaling.JSON.Encode(signaling.Envelope{Event: name, Data: raw, Ref: "q"})
		if err != nil {
			t.Fatal(err)
		}
		newFuzzWorld(t).send(t, 0, frame)
	})
}
