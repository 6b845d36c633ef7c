// Package leakcheck finds goroutines that tests left running: a TestMain
// calls Main, which fails the run if, once every test has finished,
// goroutines whose stacks mention wsdeck's code are still there.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long Main and Check give goroutines on their way out.
const Wait = 10 * time.Second

// Main runs the tests and then the leak check, and returns the exit code
// for os.Exit. Each of substrs selects goroutines that count
// ("github.com/wsdeck/wsdeck/" for all of ours; a library's path for its
// own, such as "golang.org/x/crypto/ssh").
func Main(m *testing.M, substrs ...string) int {
	code := m.Run()
	for _, substr := range substrs {
		if leaked := Leaked(substr, Wait); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutine(s) mentioning %s left running after the tests:\n\n%s\n",
				len(leaked), substr, strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	return code
}

// Check fails t if goroutines mentioning substr are still running after
// Wait.
func Check(t testing.TB, substr string) {
	t.Helper()
	if leaked := Leaked(substr, Wait); len(leaked) > 0 {
		t.Fatalf("%d goroutine(s) mentioning %q still running:\n\n%s", len(leaked), substr, strings.Join(leaked, "\n\n"))
	}
}

// Leaked returns the stacks of the goroutines, other than the caller's,
// that mention substr, waiting up to wait (polling, with backoff) for those
// on their way out.
func Leaked(substr string, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	backoff := time.Millisecond
	for {
		leaked := mentioning(substr)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func mentioning(substr string) []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")[1:] // the first is the caller's own
	var out []string
	for _, s := range stacks {
		if strings.Contains(s, substr) && !strings.Contains(s, "github.com/wsdeck/wsdeck/internal/testkit/leakcheck.") {
			out = append(out, s)
		}
	}
	return out
}
