//go:build unix

package lockfile

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// forkWindow bounds how long Lock waits for a lock held by a descriptor
// copied into a child between fork and exec.
const forkWindow = time.Second

func lock(f *os.File) error {
	deadline := time.Now().Add(forkWindow)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(wait)
	}
}
