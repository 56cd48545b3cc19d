package sqlitedb_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/huddle-go/huddle/internal/sqlitedb"
	"github.com/huddle-go/huddle/internal/sqlmigrate"
	"github.com/matryer/is"
)

func TestLoadRefusesGapsAndNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"gap", fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, "no gaps"},
		{"bad name", fstest.MapFS{"m/first.sql": {}}, "NNNN_name.sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, err := sqlmigrate.Load(tc.files, "m")
			is.True(err != nil && strings.Contains(err.Error(), tc.want)) // refused, saying why
		})
	}
}

func TestApplyOnceThenUpgrade(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "m.db"), "")
	is.NoErr(err) // open
	defer db.Close()
	v1 := fstest.MapFS{"m/0001_t.sql": {Data: []byte("CREATE TABLE t (x INTEGER);")}}
	ms, err := sqlmigrate.Load(v1, "m")
	is.NoErr(err) // load v1
	at, err := sqlmigrate.Apply(ctx, db, false, "test_migrations", ms)
	is.NoErr(err)   // apply v1
	is.Equal(at, 1) // at version 1
	at, err = sqlmigrate.Apply(ctx, db, false, "test_migrations", ms)
	is.NoErr(err)   // applying again does nothing (CREATE TABLE would fail if it ran twice)
	is.Equal(at, 1) // still 1

	v2 := fstest.MapFS{"m/0001_t.sql": v1["m/0001_t.sql"], "m/0002_u.sql": {Data: []byte("ALTER TABLE t ADD COLUMN y TEXT;")}}
	ms2, err := sqlmigrate.Load(v2, "m")
	is.NoErr(err) // load v2
	at, err = sqlmigrate.Apply(ctx, db, false, "test_migrations", ms2)
	is.NoErr(err)   // the upgrade
	is.Equal(at, 2) // at version 2
	_, err = db.ExecContext(ctx, "INSERT INTO t (x, y) VALUES (1, 'a')")
	is.NoErr(err) // the new column is there

	_, err = sqlmigrate.Apply(ctx, db, false, "test_migrations", ms)
	is.True(err != nil && strings.Contains(err.Error(), "newer than this program")) // an older binary refuses a newer schema

	bad := fstest.MapFS{"m/0001_t.sql": v1["m/0001_t.sql"], "m/0002_u.sql": v2["m/0002_u.sql"], "m/0003_v.sql": {Data: []byte("NOT SQL;")}}
	ms3, err := sqlmigrate.Load(bad, "m")
	is.NoErr(err) // load
	_, err = sqlmigrate.Apply(ctx, db, false, "test_migrations", ms3)
	is.True(err != nil && strings.Contains(err.Error(), "0003_v.sql")) // a failing migration is named
	at, err = sqlmigrate.Apply(ctx, db, false, "test_migrations", ms2)
	is.NoErr(err)   // and rolled back: the database stays at
	is.Equal(at, 2) // version 2
}
