//go:build unix

package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestLockHeld: a lock held through another open file description is
// refused with ErrLocked, and taken once that file is closed.
func TestLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	holder := open(t, path)
	if err := Lock(holder); err != nil {
		t.Fatal(err)
	}
	other := open(t, path)
	if err := Lock(other); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while held = %v, want ErrLocked", err)
	}
	holder.Close()
	if err := Lock(other); err != nil {
		t.Fatalf("Lock after the holder closed = %v", err)
	}
}

// TestLockWaitsForRelease: a lock released while Lock waits (as a forked
// child's copy of the descriptor is, when it execs) is taken, not refused.
func TestLockWaitsForRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	holder := open(t, path)
	if err := Lock(holder); err != nil {
		t.Fatal(err)
	}
	other := open(t, path)
	done := make(chan error, 1)
	go func() { done <- Lock(other) }()
	holder.Close()
	if err := <-done; err != nil {
		t.Fatalf("Lock = %v, want the lock once the holder closed", err)
	}
}
