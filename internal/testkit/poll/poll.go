// Package poll waits in tests for a condition that something else makes
// true (a goroutine, another process, the engine), checking it often and
// failing the test at a deadline: no sleep stands in for synchronisation.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 10 * time.Millisecond

// Until checks cond every Interval until it holds, and fails t (naming
// what it waited for) if it does not within d.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(Interval)
	}
}
