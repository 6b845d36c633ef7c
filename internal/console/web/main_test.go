package web_test

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of the tests (a pipe reader, a
// monitor watcher) outlives them.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/")) }
