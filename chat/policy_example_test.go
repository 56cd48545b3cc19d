package chat_test

import (
	"context"
	"fmt"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/signaling"
)

// Invitation-only rooms: the application adds the members, a stranger's join_room is
// forbidden, and a room nobody has used yet is anyone's to create.
func ExampleMembersOnly() {
	ctx := context.Background()
	node := signaling.NewNode(nil)
	defer node.Shutdown(ctx)
	rooms := chat.NewMemoryStore(nil)
	policy := chat.MembersOnly(rooms, rooms)
	svc, err := chat.New(node, &chat.Options{Store: rooms, Membership: rooms, Policy: policy})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	_ = svc.AddMember(ctx, "board", signaling.User{ID: "alice", Username: "Alice"})
	_ = svc.AddMember(ctx, "board", signaling.User{ID: "bob", Username: "Bob"})
	mallory := signaling.User{ID: "mallory", Username: "Mallory"}
	fmt.Println("mallory joins board:", signaling.ErrorCode(policy.CanJoin(ctx, mallory, "board")))
	fmt.Println("mallory creates her own room:", policy.CanJoin(ctx, mallory, "mallory's room"))
	// Output:
	// mallory joins board: forbidden
	// mallory creates her own room: <nil>
}
