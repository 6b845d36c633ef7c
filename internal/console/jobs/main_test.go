package jobs

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours (a job, its flusher, the
// engine's) outlives the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/")) }

func discardLogger() *slog.Logger {
	if os.Getenv("JOBS_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
