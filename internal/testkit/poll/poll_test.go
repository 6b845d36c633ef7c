package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestUntilReturnsWhenCondHolds: Until returns once another goroutine
// makes the condition true.
func TestUntilReturnsWhenCondHolds(t *testing.T) {
	var done atomic.Bool
	go func() { done.Store(true) }()
	Until(t, time.Minute, "the goroutine", done.Load)
}

// fatalT records Fatalf instead of stopping the test.
type fatalT struct {
	testing.TB
	failed string
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f) // Fatalf does not return
}

// TestUntilFailsAtTheDeadline: a condition that never holds fails the
// test once the deadline passes.
func TestUntilFailsAtTheDeadline(t *testing.T) {
	f := &fatalT{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != f {
				panic(r)
			}
		}()
		Until(f, 30*time.Millisecond, "never", func() bool { return false })
	}()
	if f.failed == "" {
		t.Fatal("Until returned for a condition that never held")
	}
}
