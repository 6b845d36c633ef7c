package testpeer

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestAtLeast(t *testing.T) {
	for _, tt := range []struct {
		version string
		want    bool
	}{
		{"10.1", true},
		{"10.4", true},
		{"10.10", true},
		{"11.0", true},
		{"15.0.1", true},
		{"10.1rc1", true},
		{"10.0", false},
		{"9.1", false},
		{"9", false},
		{"", false},
		{"x.y", false},
	} {
		if got := atLeast(tt.version, 10, 1); got != tt.want {
			t.Errorf("atLeast(%q, 10, 1) = %v, want %v", tt.version, got, tt.want)
		}
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("ModuleRoot() = %s, which has no go.mod: %v", root, err)
	}
	if wd, _ := os.Getwd(); filepath.Join(root, "internal", "testkit", "testpeer") != wd {
		t.Errorf("ModuleRoot() = %s, want the grandparent of the parent of %s", root, wd)
	}
}

// TestNodeInstallsNothing checks that looking for Node's ws never runs npm:
// a missing or stale node_modules is reported (so that the test skips, or
// fails in CI), not installed from the registry.
func TestNodeInstallsNothing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake node and npm are shell scripts")
	}
	bin := t.TempDir()
	npmRan := filepath.Join(t.TempDir(), "npm-ran")
	writeScript(t, filepath.Join(bin, "node"), "echo v99.0.0-fake")
	writeScript(t, filepath.Join(bin, "npm"), `echo "$@" >> '`+npmRan+`'; exit 1`)
	t.Setenv("PATH", bin)

	root := t.TempDir()
	writeFile(t, filepath.Join(root, "package.json"), `{"devDependencies": {"ws": "8.23.0"}}`)
	wsPackage := filepath.Join(root, "node_modules", "ws", "package.json")
	for _, tt := range []struct {
		name      string
		installed string // node_modules/ws/package.json, "" for none
		wantErr   string
	}{
		{"no node_modules", "", "ws is not installed"},
		{"another ws version", `{"version": "8.0.0"}`, `node_modules has ws 8.0.0, package.json pins "8.23.0"`},
		{"the pinned version", `{"version": "8.23.0"}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.installed != "" {
				writeFile(t, wsPackage, tt.installed)
			}
			p := nodeIn(root)
			if _, err := os.Stat(npmRan); err == nil {
				b, _ := os.ReadFile(npmRan)
				t.Fatalf("npm ran (npm %s)", strings.TrimSpace(string(b)))
			}
			switch {
			case tt.wantErr == "" && p.err != nil:
				t.Fatalf("nodeIn: %v", p.err)
			case tt.wantErr == "":
				if want := filepath.Join(root, "node_modules"); p.dir != want || p.path != filepath.Join(bin, "node") {
					t.Errorf("nodeIn = node %s, modules %s; want %s, %s", p.path, p.dir, filepath.Join(bin, "node"), want)
				}
			case p.err == nil || !strings.Contains(p.err.Error(), tt.wantErr):
				t.Errorf("nodeIn error = %v, want one saying %q", p.err, tt.wantErr)
			}
		})
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
