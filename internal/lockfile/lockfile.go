// Package lockfile takes exclusive advisory locks on open files, so that
// two processes never write the same state (an audit log, a JetStream
// store) at once.
package lockfile

import (
	"errors"
	"os"
)

// ErrLocked is the error of Lock when another process holds the lock.
var ErrLocked = errors.New("in use by another process")

// Lock takes an exclusive lock on f and returns ErrLocked if another
// process keeps it. It waits at most about a second: a child process
// forked by this one holds a copy of f's descriptor, and with it the
// lock, until it has exec'd. Closing f releases the lock. Where the
// system has no flock(2), Lock does nothing.
func Lock(f *os.File) error { return lock(f) }
