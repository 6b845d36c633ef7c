package batch

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours or of x/crypto/ssh (a
// connection's reader, a session, the test server's) outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, substr := range []string{"github.com/wsdeck/wsdeck/", "golang.org/x/crypto/ssh"} {
		if leaked := leakcheck.Leaked(substr, leakcheck.Wait); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutine(s) mentioning %s left running after the tests:\n\n%s\n",
				len(leaked), substr, strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}
