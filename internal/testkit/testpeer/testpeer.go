// Package testpeer finds the external programs that interop tests talk to:
// other WebSocket implementations, a browser, and the NATS server and load
// balancer of the several-node tests.
//
// A finder returns the peer's path and logs its version. A missing peer
// skips the test, saying how to install it, unless the environment variable
// WSDECK_REQUIRE_PEERS is 1 (as in CI), where it fails the test: a
// conformance suite that silently skips proves nothing.
package testpeer

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

// ModuleRoot returns the directory of the go.mod that holds the working
// directory: during go test, the root of the module whose package is tested.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
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

// Node returns the path of node and the node_modules directory, at the
// module root, that holds the ws package at the version package.json pins.
// It installs nothing: a test must not reach for a registry, so without
// npm ci at the module root (CI runs it) the test skips, saying so.
func Node(t testing.TB) (node, nodeModules string) {
	t.Helper()
	p := findNode()
	Need(t, "node ws", "install Node.js and npm, then run npm ci at the module root", p.err)
	t.Logf("peer: node ws %s (%s)", p.version, p.path)
	return p.path, p.dir
}

var findNode = sync.OnceValue(func() peer {
	root, err := ModuleRoot()
	if err != nil {
		return peer{err: err}
	}
	return nodeIn(root)
})

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
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := readJSON(filepath.Join(root, "package.json"), &pkg); err != nil {
		return peer{err: err}
	}
	modules := filepath.Join(root, "node_modules")
	want := pkg.DevDependencies["ws"]
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

// find returns path if it exists (where Debian's package puts the
// binary), else the binary of the same name on PATH.
func find(path string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return exec.LookPath(filepath.Base(path))
}

var chromium = sync.OnceValue(func() peer {
	path, err := find("/usr/bin/chromium")
	if err != nil {
		return peer{err: err}
	}
	version, err := run(path, "--version")
	if err != nil {
		return peer{err: fmt.Errorf("%s --version: %w", path, err)}
	}
	return peer{path: path, version: version}
})

// NATSServerEnv names the nats-server binary for the tests that start a
// NATS cluster of real processes; without it, nats-server is looked for on
// PATH.
const NATSServerEnv = "WSDECK_NATS_SERVER"

// NATSServer returns the path of a nats-server binary, version 2.10 or
// later (clustered JetStream as the engine uses it): $WSDECK_NATS_SERVER,
// or nats-server on PATH. CI builds it from the module version go.mod pins.
func NATSServer(t testing.TB) string {
	t.Helper()
	p := natsServer()
	Need(t, "nats-server", "GOBIN=DIR go install github.com/nats-io/nats-server/v2@VERSION (the one go.mod pins), then "+
		NATSServerEnv+"=DIR/nats-server or DIR on PATH", p.err)
	t.Logf("peer: nats-server %s (%s)", p.version, p.path)
	return p.path
}

var natsServer = sync.OnceValue(func() peer {
	path := os.Getenv(NATSServerEnv)
	if path == "" {
		var err error
		if path, err = exec.LookPath("nats-server"); err != nil {
			return peer{err: fmt.Errorf("%s is not set and %w", NATSServerEnv, err)}
		}
	}
	out, err := run(path, "--version") // "nats-server: v2.15.3"
	if err != nil {
		return peer{err: fmt.Errorf("%s --version: %w", path, err)}
	}
	version := strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(out, "nats-server:")), "v")
	if !atLeast(version, 2, 10) {
		return peer{err: fmt.Errorf("%s is version %q, need 2.10 or later", path, out)}
	}
	return peer{path: path, version: version}
})

// HAProxy returns the path of haproxy, version 2.0 or later (WebSocket
// upgrades in HTTP mode, l7 retries): /usr/sbin/haproxy, or haproxy on PATH.
func HAProxy(t testing.TB) string {
	t.Helper()
	p := haproxy()
	Need(t, "haproxy", "apt install haproxy", p.err)
	t.Logf("peer: haproxy %s (%s)", p.version, p.path)
	return p.path
}

var haproxy = sync.OnceValue(func() peer {
	path, err := find("/usr/sbin/haproxy")
	if err != nil {
		return peer{err: err}
	}
	out, err := run(path, "-v") // "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
	if err != nil {
		return peer{err: fmt.Errorf("%s -v: %w", path, err)}
	}
	first, _, _ := strings.Cut(out, "\n")
	version, _, _ := strings.Cut(strings.TrimPrefix(first, "HAProxy version "), " ")
	if !atLeast(version, 2, 0) {
		return peer{err: fmt.Errorf("%s is %q, need 2.0 or later", path, first)}
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
			err = fmt.Errorf("%w: %s", err, lastLine(msg))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func lastLine(s string) string {
	return s[strings.LastIndexByte(s, '\n')+1:]
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
