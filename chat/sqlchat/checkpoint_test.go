package sqlchat_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/huddle-go/huddle/chat/sqlchat"
	"github.com/matryer/is"
)

// TestWALCheckpointedBehindTheWriter: the WAL is copied into the database file by the
// checkpointer, not only when it reaches SQLite's own threshold (1000 pages, which these
// commits stay under): the database file grows while the store keeps appending.
func TestWALCheckpointedBehindTheWriter(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := sqlchat.OpenSQLite(ctx, path, nil)
	is.NoErr(err) // open
	defer s.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		is.NoErr(err) // the database file is there
		return fi.Size()
	}
	before := size()
	for i := range 150 { // one commit each, a few pages each: well under 1000 pages
		_, _, err := s.Append(ctx, message(t, "r1", alice, fmt.Sprint(i)))
		is.NoErr(err) // append
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the file under a deadline
	}
	is.True(size() > before) // the checkpointer copied the WAL into the database file
	hist, _, err := s.History(ctx, "r1", "", 100)
	is.NoErr(err)            // and the messages read back
	is.Equal(len(hist), 100) // all there (the last 100 of 150)
}
