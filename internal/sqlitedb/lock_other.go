//go:build !unix

package sqlitedb

// Lock does nothing where flock does not exist: one process per file is then the caller's
// business.
func Lock(path string) (release func() error, err error) { return func() error { return nil }, nil }
