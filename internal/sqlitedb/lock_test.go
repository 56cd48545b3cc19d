//go:build unix

package sqlitedb_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/huddle-go/huddle/internal/sqlitedb"
	"github.com/matryer/is"
)

// TestLockOneHolder: a file's lock has one holder at a time; released, it can be taken again.
func TestLockOneHolder(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "chat.db")
	release, err := sqlitedb.Lock(path)
	is.NoErr(err) // the first holder
	_, err = sqlitedb.Lock(path)
	is.True(errors.Is(err, sqlitedb.ErrInUse)) // a second one is refused at once
	is.NoErr(release())                        // released
	release, err = sqlitedb.Lock(path)
	is.NoErr(err) // taken again
	is.NoErr(release())
}
