package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// announced returns what a console with cfg prints at start.
func announced(t *testing.T, cfg Config) string {
	t.Helper()
	out := &logBuffer{}
	cfg.Addr, cfg.Out, cfg.Logger = "127.0.0.1:0", out, slog.New(slog.DiscardHandler)
	cfg.Engine.StateDir = t.TempDir()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.announce(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestLoginURLIsPrintedOnlyWhenWanted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token string
		print PrintURL
		want  bool // the login URL, token and all, is printed
	}{
		{"random token", "", PrintURLAuto, true},
		{"chosen token", testToken, PrintURLAuto, false},
		{"chosen token, --print-url", testToken, PrintURLAlways, true},
		{"random token, --print-url=false, --url-file", "", PrintURLNever, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Token: tt.token, PrintURL: tt.print}
			if tt.print == PrintURLNever {
				cfg.URLFile = filepath.Join(t.TempDir(), "url")
			}
			out := announced(t, cfg)
			printed := strings.Contains(out, "?token=") && !strings.Contains(out, "YOUR_TOKEN")
			if printed != tt.want {
				t.Errorf("printed %q: login URL shown %v, want %v", out, printed, tt.want)
			}
			if tt.token != "" && !tt.want && strings.Contains(out, tt.token) {
				t.Errorf("printed the chosen token unasked: %q", out)
			}
			if !strings.Contains(out, "http://127.0.0.1:") {
				t.Errorf("printed %q: want at least where the console is", out)
			}
		})
	}
}

func TestLoginURLFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "login-url")
	// A file there before, readable by all, is replaced, not reused.
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := announced(t, Config{Token: testToken, URLFile: file})
	if strings.Contains(out, testToken) {
		t.Errorf("printed the token: %q", out)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("URL file mode %04o, want 0600", perm)
	}
	b, _ := os.ReadFile(file)
	if got := strings.TrimSpace(string(b)); !strings.HasPrefix(got, "http://127.0.0.1:") || !strings.HasSuffix(got, "/?token="+testToken) {
		t.Errorf("URL file holds %q, want the login URL", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("%d files beside it, want none left over", len(entries)-1)
	}
}

func TestNoOneCouldLogIn(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Addr: "127.0.0.1:0", PrintURL: PrintURLNever}); err == nil {
		t.Error("a random token neither printed nor written was accepted")
	}
}
