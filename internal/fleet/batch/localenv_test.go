package batch

import (
	"slices"
	"strings"
	"testing"
)

// TestLocalEnvScrubbed: a local command sees none of wsdeck's secrets,
// only the variables of an SSH session. Not parallel: it sets the
// process's environment.
func TestLocalEnvScrubbed(t *testing.T) {
	t.Setenv("WSDECK_TOKEN", "token-that-must-not-leak")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-that-must-not-leak")
	t.Setenv("SSH_AUTH_SOCK", "/tmp/agent-that-must-not-leak")
	t.Setenv("LC_TIME", "C.UTF-8")
	t.Setenv("HOME", "/home/someone")
	rec, _ := run(t, t.Context(), Config{AgentSocket: None}, "local", "env", nil)
	wantStatus(t, rec, StatusOK)
	out := rec.output(0, Stdout)
	var names []string // what a failure shows: the names only, never values
	for _, kv := range strings.Split(out, "\n") {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	for _, secret := range []string{"WSDECK_TOKEN", "token-that-must-not-leak", "AWS_SECRET", "secret-that-must-not-leak", "SSH_AUTH_SOCK"} {
		if strings.Contains(out, secret) {
			t.Errorf("env shows %s; its variables: %q", secret, names)
		}
	}
	lines := strings.Split(out, "\n")
	for _, want := range []string{"LC_TIME=C.UTF-8", "HOME=/home/someone"} {
		if !slices.Contains(lines, want) {
			t.Errorf("env lacks %s; its variables: %q", want, names)
		}
	}
	if !strings.Contains(out, "\nPATH=") && !strings.HasPrefix(out, "PATH=") {
		t.Errorf("env lacks PATH; its variables: %q", names)
	}
}

func TestLocalEnv(t *testing.T) {
	t.Parallel()
	got := localEnv([]string{"A=1", "PATH=/x", "LC_ALL=C", "LCX=1", "USER=u", "TERM=xterm", "bad", "TZ=UTC"})
	want := []string{"PATH=/x", "LC_ALL=C", "USER=u", "TZ=UTC"}
	if !slices.Equal(got, want) {
		t.Errorf("localEnv = %q, want %q", got, want)
	}
	if got := localEnv([]string{"HOME=/h"}); !slices.Equal(got, []string{"HOME=/h", "PATH=" + defaultPath}) {
		t.Errorf("localEnv without PATH = %q", got)
	}
}
