package fleetmon

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours (a session, a beat or
// tick loop) or of x/crypto/ssh outlives the tests.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/", "golang.org/x/crypto/ssh"))
}
