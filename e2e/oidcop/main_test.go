package oidcop_test

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of the provider or of the relying
// party outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/")) }
