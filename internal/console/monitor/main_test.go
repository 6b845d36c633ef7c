package monitor

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours (a socket's reader or
// writer, a sampler, a connection) outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/")) }
