//go:build unix

package sqlitedb

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Lock takes the lock of the SQLite database file at path: an exclusive flock on the file
// path+".lock" beside it (created when missing), held until release is called or the process
// ends, however it ends: the kernel releases a killed process's lock. A second Lock of the same
// file, from another process or from this one, fails with ErrInUse at once.
func Lock(path string) (release func() error, err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (its lock file %s is held)", ErrInUse, path, name)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f.Close, nil // closing the file releases the lock
}
