package sqlchat_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/huddle-go/huddle/chat"
	"github.com/huddle-go/huddle/chat/sqlchat"
	"github.com/huddle-go/huddle/signaling"
)

// A chat Service on a SQLite file: history and membership survive a restart.
func ExampleOpenSQLite() {
	dir, _ := os.MkdirTemp("", "huddle")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := sqlchat.OpenSQLite(ctx, filepath.Join(dir, "huddle.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	node := signaling.NewNode(nil)
	chat.New(node, &chat.Options{Store: store, Membership: store})

	// What the Service does with a `message` event:
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	_, _, _ = store.Append(ctx, chat.Message{ID: "0195e000-0000-7000-8000-000000000001", RoomID: "lobby",
		Content: "kept across restarts", Sender: signaling.User{ID: "alice", Username: "Alice"}, CreatedAt: at, UpdatedAt: at})
	_ = store.Close()

	again, err := sqlchat.OpenSQLite(ctx, filepath.Join(dir, "huddle.db"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer again.Close()
	msgs, _, _ := again.History(ctx, "lobby", "", 10)
	fmt.Println(msgs[0].Sender.Username+":", msgs[0].Content)
	// Output: Alice: kept across restarts
}
