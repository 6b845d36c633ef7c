package websocket

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines of this package, or started by its
// tests, are still running once every test (of every file in the package)
// has finished: a Conn must leave nothing behind when it is closed.
func TestMain(m *testing.M) {
	code := m.Run()
	if leaked := leakedGoroutines("wsdeck/websocket.", 5*time.Second); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "%d goroutine(s) left running after the tests:\n\n%s\n",
			len(leaked), strings.Join(leaked, "\n\n"))
		code = 1
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of the goroutines whose stacks
// mention substr, other than the caller's own, waiting up to wait (with
// backoff) for goroutines that are on their way out.
func leakedGoroutines(substr string, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	backoff := time.Millisecond
	for {
		leaked := goroutinesMentioning(substr)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// goroutinesMentioning returns the stacks of all goroutines but the
// caller's that contain substr.
func goroutinesMentioning(substr string) []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	// The first stack is the caller's own.
	stacks := strings.Split(string(buf), "\n\n")[1:]
	var out []string
	for _, s := range stacks {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

// waitGoroutinesGone fails t if goroutines whose stacks mention substr are
// still running after a few seconds.
func waitGoroutinesGone(t testing.TB, substr string) {
	t.Helper()
	if leaked := leakedGoroutines(substr, 5*time.Second); len(leaked) > 0 {
		t.Fatalf("%d goroutine(s) mentioning %q still running:\n\n%s", len(leaked), substr, strings.Join(leaked, "\n\n"))
	}
}
