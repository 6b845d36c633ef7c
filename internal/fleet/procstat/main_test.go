package procstat

import (
	"os"
	"testing"

	"wsdeck/internal/testkit/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "wsdeck/")) }
