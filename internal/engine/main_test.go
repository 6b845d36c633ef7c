package engine

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours, of the NATS client or of
// the embedded NATS server outlives the tests: Shutdown must stop them
// all.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/", "nats-io/"))
}
