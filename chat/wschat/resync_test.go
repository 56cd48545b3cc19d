package wschat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/wschat"
	"github.com/huddle-go/huddle/signaling/ws"
	"github.com/matryer/is"
)

// chatMessage is the part of a `message` event the tests read.
type chatMessage struct {
	ID, RoomID, Content string
}

func content(t *testing.T, ev ws.Event) chatMessage {
	t.Helper()
	var m chatMessage
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("message %s: %v", ev.Data, err)
	}
	return m
}

func say(t *testing.T, c *ws.Client, room, text string) {
	t.Helper()
	if err := c.Send(context.Background(), "message", map[string]string{"roomId": room, "content": text, "clientMsgId": text}); err != nil {
		t.Fatalf("send %s: %v", text, err)
	}
}

// TestResync: after a restart refuses the resume, a client with a Resync hook gets every
// message it missed, in order and once each, and then the live ones.
func TestResync(t *testing.T) {
	is := is.New(t)
	store := chat.NewMemoryStore(nil) // outlives the "restart", as a durable store does
	e := startServer(t, store)

	g, hc := newGate(t)
	alice := connect(t, e.url+"?user=alice", &ws.ClientOptions{
		Dial:       ws.DialOptions{HTTPClient: hc},
		Reconnect:  true,
		MinBackoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond,
		Hook:       wschat.NewResync(nil),
	})
	is.NoErr(alice.Send(context.Background(), "join_room", map[string]string{"roomId": "r1"}))
	expect(t, alice, "room_joined")
	for i := range 5 {
		say(t, alice, "r1", fmt.Sprint("m", i))
		is.Equal(content(t, expect(t, alice, "message")).Content, fmt.Sprint("m", i)) // live before the restart
	}

	// The restart: a new node on the same store, with another resume secret, takes the endpoint.
	e.restart(store)
	until(t, g.waiting, wait, "alice to reconnect")

	bob := connect(t, e.url+"?user=bob", nil)
	is.NoErr(bob.Send(context.Background(), "join_room", map[string]string{"roomId": "r1"}))
	expect(t, bob, "room_joined")
	for i := 5; i < 10; i++ {
		say(t, bob, "r1", fmt.Sprint("m", i)) // while alice is away
		expect(t, bob, "message")
	}
	close(g.open)

	var got []string
	var report wschat.ResyncReport
	for report.RoomID == "" {
		ev := next(t, alice)
		switch ev.Event {
		case "message":
			got = append(got, content(t, ev).Content)
		case wschat.ResyncedEvent:
			is.NoErr(json.Unmarshal(ev.Data, &report)) // the report
		case "history", "error":
			t.Fatalf("the re-sync's own %s reached Events: %s", ev.Event, ev.Data)
		}
	}
	is.Equal(got, []string{"m5", "m6", "m7", "m8", "m9"}) // what alice missed, in order, once
	is.Equal(report, wschat.ResyncReport{RoomID: "r1", Messages: 5, Complete: true})

	say(t, bob, "r1", "m10")
	is.Equal(content(t, expect(t, alice, "message")).Content, "m10") // then the live ones
}

// TestResyncRefused: when the server refuses the re-sync (a server that restarted on
// memory stores lost the membership), the room's report says so and the client goes on.
func TestResyncRefused(t *testing.T) {
	is := is.New(t)
	e := startServer(t, nil)
	alice := connect(t, e.url+"?user=alice", &ws.ClientOptions{
		Reconnect:  true,
		MinBackoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond,
		Hook:       wschat.NewResync(nil),
	})
	say(t, alice, "r1", "before")
	expect(t, alice, "message")

	e.restart(nil) // an empty store: everything was lost

	var report wschat.ResyncReport
	is.NoErr(json.Unmarshal(expect(t, alice, wschat.ResyncedEvent).Data, &report)) // the report
	is.Equal(report.RoomID, "r1")                                                  // of r1
	is.True(!report.Complete)                                                      // incomplete
	is.Equal(report.Error, "forbidden")                                            // alice is no member of the new server's r1
}
