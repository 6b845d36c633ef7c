package policy

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/internal/console/policy"))
}
