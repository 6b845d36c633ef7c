package wstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The finders return the path of an independent WebSocket implementation
// and log its version. A missing peer skips the test, saying how to
// install it, unless the environment variable RequireEnv is 1 (as in CI),
// where it fails the test: a conformance suite that silently skips proves
// nothing.
//
// This duplicates a part of the application's own peer finder on purpose:
// the library's tests must stand alone.

// RequireEnv is the environment variable that, set to 1, turns a missing
// peer from a skip into a failure.
const RequireEnv = "WSDECK_REQUIRE_PEERS"

// probeTimeout bounds each run of a peer to learn its version.
const probeTimeout = 20 * time.Second

// Need skips t, or fails it if RequireEnv is 1, when err says that the peer
// called name is unavailable. install says how to get it.
func Need(t testing.TB, name, install string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is required (%s=1) but unavailable: %v", name, RequireEnv, err)
	}
	t.Skipf("%s not available, skipping (install: %s): %v", name, install, err)
}

// peer is what a finder learned, once per test binary.
type peer struct {
	path    string
	version string
	dir     string // the peer's library directory, for Node
	err     error
}

// Python returns the path of a python3 that imports websockets 10.1 or
// later (the asyncio API with one-argument handlers). Debian's
// /usr/bin/python3 comes first: a python3 earlier on PATH (pyenv, a
// virtualenv) often lacks the system's packages.
func Python(t testing.TB) string {
	t.Helper()
	p := python()
	Need(t, "python3-websockets", "apt install python3-websockets, or pip install websockets", p.err)
	t.Logf("peer: python3-websockets %s (%s)", p.version, p.path)
	return p.path
}

var python = sync.OnceValue(func() peer {
	var candidates []string
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		candidates = append(candidates, "/usr/bin/python3")
	}
	if path, err := exec.LookPath("python3"); err == nil && path != "/usr/bin/python3" {
		candidates = append(candidates, path)
	}
	if len(candidates) == 0 {
		return peer{err: errors.New("no python3 in /usr/bin or on PATH")}
	}
	var errs []error
	for _, path := range candidates {
		out, err := run(path, "-c", "import websockets; print(websockets.__version__)")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s cannot import websockets: %w", path, err))
			continue
		}
		if !atLeast(out, 10, 1) {
			errs = append(errs, fmt.Errorf("%s has websockets %s, need 10.1 or later", path, out))
			continue
		}
		return peer{path: path, version: out}
	}
	return peer{err: errors.Join(errs...)}
})

// Node returns the path of node and the node_modules directory that holds
// the ws package at the version its package.json pins: that of the nearest
// directory, from the working directory up, whose package.json pins ws in
// devDependencies. It installs nothing: a test must not reach for a
// registry, so without npm ci there (CI runs it) the test skips, saying
// so.
func Node(t testing.TB) (node, nodeModules string) {
	t.Helper()
	p := findNode()
	Need(t, "node ws", "install Node.js and npm, then run npm ci where package.json pins ws", p.err)
	t.Logf("peer: node ws %s (%s)", p.version, p.path)
	return p.path, p.dir
}

var findNode = sync.OnceValue(func() peer {
	dir, err := os.Getwd()
	if err != nil {
		return peer{err: err}
	}
	for {
		if pin, _ := wsPin(dir); pin != "" {
			return nodeIn(dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return peer{err: errors.New("no package.json pinning ws above the working directory")}
		}
		dir = parent
	}
})

// wsPin returns the version of ws that dir's package.json pins.
func wsPin(dir string) (string, error) {
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := readJSON(filepath.Join(dir, "package.json"), &pkg); err != nil {
		return "", err
	}
	return pkg.DevDependencies["ws"], nil
}

// nodeIn finds node on PATH and the ws package that root's package.json
// pins in root/node_modules.
func nodeIn(root string) peer {
	path, err := exec.LookPath("node")
	if err != nil {
		return peer{err: err}
	}
	version, err := run(path, "--version")
	if err != nil {
		return peer{err: fmt.Errorf("%s --version: %w", path, err)}
	}
	want, err := wsPin(root)
	if err != nil {
		return peer{err: err}
	}
	modules := filepath.Join(root, "node_modules")
	var ws struct {
		Version string `json:"version"`
	}
	if err := readJSON(filepath.Join(modules, "ws", "package.json"), &ws); err != nil {
		return peer{err: fmt.Errorf("ws is not installed: %w", err)}
	}
	if ws.Version != want {
		return peer{err: fmt.Errorf("node_modules has ws %s, package.json pins %q", ws.Version, want)}
	}
	return peer{path: path, version: ws.Version + " on node " + version, dir: modules}
}

// Chromium returns the path of Chromium: /usr/bin/chromium, or chromium on
// PATH.
func Chromium(t testing.TB) string {
	t.Helper()
	p := chromium()
	Need(t, "chromium", "apt install chromium", p.err)
	t.Logf("peer: %s (%s)", p.version, p.path)
	return p.path
}

var chromium = sync.OnceValue(func() peer {
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if path, err = exec.LookPath("chromium"); err != nil {
			return peer{err: err}
		}
	}
	version, err := run(path, "--version")
	if err != nil {
		return peer{err: fmt.Errorf("%s --version: %w", path, err)}
	}
	return peer{path: path, version: version}
})

// run runs a probe of a peer and returns its trimmed standard output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg[strings.LastIndexByte(msg, '\n')+1:])
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// atLeast reports whether version, "major.minor[...]", is at least
// major.minor.
func atLeast(version string, major, minor int) bool {
	ma, rest, _ := strings.Cut(version, ".")
	mi := rest[:len(rest)-len(strings.TrimLeft(rest, "0123456789"))]
	maj, err1 := strconv.Atoi(ma)
	min, err2 := strconv.Atoi(mi)
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}
