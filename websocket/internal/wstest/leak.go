package wstest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// LeakWait is how long Main and CheckLeaks give goroutines on their way
// out.
const LeakWait = 10 * time.Second

// Main runs the tests and then the leak check, and returns the exit code
// for os.Exit: 1 if goroutines whose stacks mention substr are still
// running LeakWait after the last test.
func Main(m *testing.M, substr string) int {
	code := m.Run()
	if leaked := Leaked(substr, LeakWait); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "%d goroutine(s) left running after the tests:\n\n%s\n",
			len(leaked), strings.Join(leaked, "\n\n"))
		code = 1
	}
	return code
}

// CheckLeaks fails t if goroutines mentioning substr are still running
// after LeakWait.
func CheckLeaks(t testing.TB, substr string) {
	t.Helper()
	if leaked := Leaked(substr, LeakWait); len(leaked) > 0 {
		t.Fatalf("%d goroutine(s) mentioning %q still running:\n\n%s", len(leaked), substr, strings.Join(leaked, "\n\n"))
	}
}

// Leaked returns the stacks of the goroutines, other than the caller's,
// that mention substr, waiting up to wait for those on their way out.
func Leaked(substr string, wait time.Duration) []string {
	var leaked []string
	poll(wait, func() bool {
		leaked = mentioning(substr)
		return len(leaked) == 0
	})
	return leaked
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
		if strings.Contains(s, substr) && !strings.Contains(s, "/internal/wstest.") {
			out = append(out, s)
		}
	}
	return out
}
