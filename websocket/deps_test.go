package websocket

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package on the standard library: every
// package it imports, directly or not, is either in the standard library
// (no dot in the first element of its path) or in this module.
func TestDependencies(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "wsdeck/websocket").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var seen bool
	for line := range strings.Lines(string(out)) {
		path, standard, _ := strings.Cut(strings.TrimSpace(line), " ")
		if path == "wsdeck/websocket" {
			seen = true
		}
		first, _, _ := strings.Cut(path, "/")
		inModule := first == "wsdeck"
		if strings.Contains(first, ".") || (standard != "true" && !inModule) {
			t.Errorf("wsdeck/websocket depends on %s, outside the standard library", path)
		}
	}
	if !seen {
		t.Errorf("go list did not list wsdeck/websocket itself:\n%s", out)
	}
}
