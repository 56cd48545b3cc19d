package meeting_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/meeting"
	"github.com/huddle-go/huddle/signaling"
	"github.com/huddle-go/huddle/signaling/signalingtest"
)

// Example runs a two-person meeting on one Node: alice starts it, bob is invited and joins,
// and alice's offer reaches bob with the server's senderId.
func Example() {
	node := signaling.NewNode(nil)
	defer node.Shutdown(context.Background())

	alice := signaling.User{ID: "alice", Username: "Alice"}
	bob := signaling.User{ID: "bob", Username: "Bob"}
	// Membership comes from chat in a real server; a map will do here.
	members := staticRooms{"standup": {alice, bob}}
	// What chat does at session start: subscribe each member session to its room topics.
	node.OnSessionAt(signaling.StageSubscribe, func(ctx context.Context, s *signaling.Session, ev signaling.SessionEvent) {
		if ev == signaling.SessionConnected {
			rooms, _ := members.Rooms(ctx, s.User().ID)
			for _, r := range rooms {
				_ = node.Subscribe(ctx, s.ID(), chat.RoomTopic(r))
			}
		}
	})
	svc, err := meeting.New(node, &meeting.Options{Members: members, RoomTopic: chat.RoomTopic})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()

	a := dial(node, alice)
	defer a.close()
	b := dial(node, bob)
	defer b.close()

	a.send("start_meeting", map[string]string{"roomId": "standup"})
	fmt.Println("alice:", a.next("meeting_started"))
	fmt.Println("bob:  ", b.next("meeting_invitation"))

	b.send("join_meeting", map[string]string{"roomId": "standup"})
	fmt.Println("bob:  ", b.next("meeting_joined"))
	fmt.Println("alice:", a.next("meeting_user_joined"))

	// The participant told of the joiner offers; the joiner answers.
	a.send("video-signal", map[string]string{"type": "offer", "roomId": "standup", "targetId": "bob", "sdp": "v=0..."})
	fmt.Println("bob:  ", b.next("video-signal"))

	a.send("stop_meeting", map[string]string{"roomId": "standup"})
	fmt.Println("bob:  ", b.next("meeting_ended"))
	fmt.Println("bob:  ", b.next("meeting_invitation"))

	// Output:
	// alice: meeting_started standup host=alice status=active participants=[alice]
	// bob:   meeting_invitation standup host=alice status=active participants=[alice]
	// bob:   meeting_joined standup participants=[alice bob]
	// alice: meeting_user_joined standup user=bob
	// bob:   video-signal standup offer from alice to bob: v=0...
	// bob:   meeting_ended standup reason=stopped
	// bob:   meeting_invitation standup host=alice status=inactive participants=[alice bob]
}

// staticRooms is a fixed Members: room id -> members.
type staticRooms map[string][]signaling.User

func (r staticRooms) IsMember(_ context.Context, roomID, userID string) (bool, error) {
	return slices.ContainsFunc(r[roomID], func(u signaling.User) bool { return u.ID == userID }), nil
}

func (r staticRooms) Members(_ context.Context, roomID string) ([]signaling.User, error) {
	return r[roomID], nil
}

func (r staticRooms) Rooms(_ context.Context, userID string) ([]string, error) {
	var out []string
	for id, users := range r {
		if slices.ContainsFunc(users, func(u signaling.User) bool { return u.ID == userID }) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// exampleClient is a bare client over an in-memory pipe, as a browser would be over a WebSocket.
type exampleClient struct {
	conn signaling.Conn
	done chan struct{}
}

func dial(node *signaling.Node, u signaling.User) *exampleClient {
	server, client := signalingtest.Pipe()
	c := &exampleClient{conn: client, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		_ = node.Serve(context.Background(), server, u, nil)
	}()
	c.next("session")
	return c
}

func (c *exampleClient) send(event string, data any) {
	b, _ := json.Marshal(map[string]any{"event": event, "data": data})
	_ = c.conn.Write(context.Background(), b)
}

// next reads frames until one of event arrives and describes it in one line.
func (c *exampleClient) next(event string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		b, err := c.conn.Read(ctx)
		if err != nil {
			return "error: " + err.Error()
		}
		var f struct {
			Event string `json:"event"`
			Data  struct {
				RoomID       string         `json:"roomId"`
				Host         signaling.User `json:"host"`
				Status       string         `json:"status"`
				Participants []struct {
					ID string `json:"id"`
				} `json:"participants"`
				User     signaling.User `json:"user"`
				Reason   string         `json:"reason"`
				Type     string         `json:"type"`
				SenderID string         `json:"senderId"`
				TargetID string         `json:"targetId"`
				SDP      string         `json:"sdp"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &f); err != nil || f.Event != event {
			continue
		}
		d := f.Data
		var ps []string
		for _, p := range d.Participants {
			ps = append(ps, p.ID)
		}
		slices.Sort(ps)
		switch event {
		case "meeting_started", "meeting_invitation":
			return fmt.Sprintf("%s %s host=%s status=%s participants=%v", event, d.RoomID, d.Host.ID, d.Status, ps)
		case "meeting_joined":
			return fmt.Sprintf("%s %s participants=%v", event, d.RoomID, ps)
		case "meeting_user_joined":
			return fmt.Sprintf("%s %s user=%s", event, d.RoomID, d.User.ID)
		case "video-signal":
			return fmt.Sprintf("%s %s %s from %s to %s: %s", event, d.RoomID, d.Type, d.SenderID, d.TargetID, d.SDP)
		case "meeting_ended":
			return fmt.Sprintf("%s %s reason=%s", event, d.RoomID, d.Reason)
		}
		return event
	}
}

func (c *exampleClient) close() {
	_ = c.conn.Close(signaling.StatusNormalClosure, "")
	<-c.done
}
