package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr string // part of the error; "" means none
	}{
		{"trimmed", write("good", "  s3cret-token \n", 0o600), "s3cret-token", ""},
		{"owner only, read-only", write("ro", "zq-secret\n", 0o400), "zq-secret", ""},
		{"group-readable", write("group", "zq-secret\n", 0o640), "", "chmod 600"},
		{"world-readable", write("world", "zq-secret\n", 0o644), "", "mode 0644"},
		{"empty", write("empty", " \n\t", 0o600), "", "empty"},
		{"two lines", write("lines", "zq-secret\nb\n", 0o600), "", "more than one line"},
		{"too large", write("large", "zq-secret"+strings.Repeat("x", 5000), 0o600), "", "larger than"},
		{"missing", filepath.Join(dir, "nonexistent"), "", "no such file"},
		{"directory", dir, "", "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTokenFile(tt.path)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %q, %v; want an error with %q", got, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "zq-secret") {
				t.Errorf("the error shows the file's content: %v", err)
			}
		})
	}
}
