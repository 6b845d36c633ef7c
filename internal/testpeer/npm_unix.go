//go:build unix

package testpeer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// npmCI installs the module's npm packages from package-lock.json (npm ci)
// so that `go test ./...` on a fresh clone sets up its node peers itself.
// Test binaries run in parallel, so the install is serialized with a file
// lock, and skipped when another process finished it meanwhile (installed
// reports that).
func npmCI(root string, installed func() bool) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(root))
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "wsdeck-npm-"+hex.EncodeToString(sum[:8])+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if installed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci: %w: %s", err, lastLine(string(out)))
	}
	return nil
}
