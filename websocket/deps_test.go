package websocket

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package, and its tests, on the standard
// library: every package that the package or any test of it (or of its
// internal packages) imports, directly or not, is either in the standard
// library or under github.com/wsdeck/wsdeck/websocket. The tests import nothing from the
// application around the package either, so that it could leave the
// repository as a module of its own without change.
func TestDependencies(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-test", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "github.com/wsdeck/wsdeck/websocket/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var seen bool
	for line := range strings.Lines(string(out)) {
		path, standard, _ := strings.Cut(strings.TrimSpace(line), " ")
		path, _, _ = strings.Cut(path, " ") // "p [p.test]" is p as its tests build it
		if path == "github.com/wsdeck/wsdeck/websocket" {
			seen = true
		}
		rest, ours := strings.CutPrefix(path, "github.com/wsdeck/wsdeck/websocket")
		ours = ours && (rest == "" || strings.ContainsAny(rest[:1], "/._")) // a package, its test package or binary
		if standard != "true" && !ours {
			t.Errorf("github.com/wsdeck/wsdeck/websocket or its tests depend on %s, outside the standard library and the package", path)
		}
	}
	if !seen {
		t.Errorf("go list did not list github.com/wsdeck/wsdeck/websocket itself:\n%s", out)
	}
}
