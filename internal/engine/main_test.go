package engine

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours, of the NATS client or of
// the embedded NATS server outlives the tests: Shutdown must stop them
// all.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, substr := range []string{"github.com/wsdeck/wsdeck/", "nats-io/"} {
		if leaked := leakcheck.Leaked(substr, leakcheck.Wait); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutine(s) mentioning %q left running after the tests:\n\n%s\n",
				len(leaked), substr, strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}
