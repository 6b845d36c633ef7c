package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The pinned WeTTY: bench/wetty holds its package.json and package-lock.json.
const (
	wettyPkgDir = "wetty"                                        // under the bench module
	wettyMain   = "node_modules/wetty/build/main.js"             // WeTTY's server, in an install
	wettyPty    = "node_modules/node-pty/build/Release/pty.node" // node-pty's native part
)

// installWetty installs the WeTTY that bench/wetty pins into a directory of
// cacheDir named by its lock file's hash (npm ci, then npm rebuild node-pty:
// npm 11 runs no install script it has not been told to allow, and WeTTY
// needs node-pty's native part), unless it is there already, and returns
// its main script. It needs node, npm, and what node-gyp builds with
// (python3, make, a C++ compiler); the error says which is missing.
func installWetty(cacheDir string) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("no node on PATH (Debian: apt-get install nodejs npm)")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("no npm on PATH to install WeTTY with (Debian: apt-get install npm), or give -wetty")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/wsdeck/wsdeck/bench").Output()
	if err != nil {
		return "", fmt.Errorf("finding the bench module (run from bench/): %w", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), wettyPkgDir)
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		return "", fmt.Errorf("WeTTY's pin: %w", err)
	}
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("WeTTY's pin: %w", err)
	}
	sum := sha256.Sum256(append(append(pkg, 0), lock...))
	dst := filepath.Join(cacheDir, "wetty-"+hex.EncodeToString(sum[:6]))
	if installed(dst) {
		return filepath.Join(dst, wettyMain), nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("WeTTY's cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, "wetty-installing-")
	if err != nil {
		return "", fmt.Errorf("WeTTY's cache: %w", err)
	}
	defer os.RemoveAll(tmp) // gone once renamed; else what a failed install left
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return "", fmt.Errorf("WeTTY's cache: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "terminal: installing WeTTY (bench/wetty/package-lock.json) into %s\n", dst)
	for _, args := range [][]string{
		{"ci", "--no-audit", "--no-fund"},
		{"rebuild", "node-pty"}, // builds pty.node with node-gyp: python3, make, g++
	} {
		cmd := exec.Command("npm", args...)
		cmd.Dir = tmp
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("npm %s: %v (node-pty builds with python3, make and a C++ compiler); its output ends: %s",
				strings.Join(args, " "), err, tail(logs.Bytes(), 800))
		}
	}
	if !installed(tmp) {
		return "", fmt.Errorf("npm ci left no %s and %s in %s", wettyMain, wettyPty, tmp)
	}
	if err := os.Rename(tmp, dst); err != nil && !installed(dst) { // another run may have won the race
		return "", fmt.Errorf("WeTTY's cache: %w", err)
	}
	return filepath.Join(dst, wettyMain), nil
}

// installed reports whether dir holds a whole WeTTY install.
func installed(dir string) bool {
	for _, f := range []string{wettyMain, wettyPty} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// defaultWettyCache is where installWetty installs by default.
func defaultWettyCache() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "wsdeck-bench")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
