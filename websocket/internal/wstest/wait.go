package wstest

import (
	"testing"
	"time"
)

// poll calls cond until it reports true or timeout has passed, sleeping
// between calls with a backoff from 50µs to 10ms, and returns cond's last
// answer. It is for waiting on state that nothing signals (a goroutine
// leaving, a waiter queuing on a lock), never for giving a goroutine time
// to run.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	backoff := 50 * time.Microsecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 10*time.Millisecond)
	}
}

// WaitFor polls cond until it reports true, and fails t with the message
// of format and args if it has not within timeout.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf(format+" (waited %v)", append(args, timeout)...)
	}
}
