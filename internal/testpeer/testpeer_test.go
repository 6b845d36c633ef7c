package testpeer

import (
	"os"
	"path/filepath"
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
	if wd, _ := os.Getwd(); filepath.Join(root, "internal", "testpeer") != wd {
		t.Errorf("ModuleRoot() = %s, want the parent of the parent of %s", root, wd)
	}
}
