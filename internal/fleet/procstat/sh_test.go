package procstat

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// runFor runs script with sh for 2.5 seconds and returns its output.
func runFor(t *testing.T, sh, script string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer cancel()
	out, err := exec.CommandContext(ctx, sh, "-c", script).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && ctx.Err() != nil {
		err = nil // killed at the end of its time, as meant
	}
	return out, err
}
