package batch

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours or of x/crypto/ssh (a
// connection's reader, a session, the test server's) outlives the tests.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/", "golang.org/x/crypto/ssh"))
}
