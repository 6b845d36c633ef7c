package policy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

const liveWeb = `groups:
  web: 127.0.0.1-3
  db: 127.0.0.4
bindings:
  - users: [olga]
    role: operator
    hosts: [web]
`

const liveDB = `groups:
  web: 127.0.0.1-3
  db: 127.0.0.4
bindings:
  - users: [olga]
    role: operator
    hosts: [db]
`

// TestLiveReload: a good file replaces the policy in force at once (the
// Policy read after Reload is the new one, and Changed says so); a bad
// file, or one gone, leaves the policy in force and says why, naming
// the file and the line; the same file again is no change.
func TestLiveReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "team.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ceiling, err := batch.ParsePolicy("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	write(liveWeb)
	l, ld, err := NewLive(path, &Options{Ceiling: ceiling})
	if err != nil || !ld.Changed || len(ld.Hash) != 64 || ld.File != path {
		t.Fatalf("NewLive = %+v, %v", ld, err)
	}
	olga := Subject{Name: "olga", Role: users.Viewer}
	groups := func() string {
		g := l.Policy().Access(olga).Groups()
		if len(g) != 1 {
			return ""
		}
		return g[0]
	}
	if groups() != "web" {
		t.Fatalf("olga's groups at start: %q, want web", groups())
	}
	first := l.Hash()

	write(liveDB)
	if ld := l.Reload(); ld.Err != nil || !ld.Changed || ld.Hash == first || ld.Hash != l.Hash() {
		t.Fatalf("Reload(good) = %+v", ld)
	}
	if groups() != "db" {
		t.Fatalf("olga's groups after the reload: %q, want db", groups())
	}

	write(liveDB + "    nonsense: 1\n")
	good := l.Hash()
	ld = l.Reload()
	var pe *Error
	if !errors.As(ld.Err, &pe) || pe.File != path || pe.Line != 8 || ld.Hash == "" || ld.Hash == good {
		t.Fatalf("Reload(bad) = %+v (%v), want an *Error at %s:8", ld, ld.Err, path)
	}
	if groups() != "db" || l.Hash() != good {
		t.Fatalf("after a bad reload: groups %q, hash %s; want the old policy kept", groups(), l.Hash())
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if ld := l.Reload(); !errors.Is(ld.Err, os.ErrNotExist) || groups() != "db" {
		t.Fatalf("Reload(no file) = %+v; groups %q", ld, groups())
	}

	write(liveDB)
	if ld := l.Reload(); ld.Err != nil || ld.Changed {
		t.Fatalf("Reload(the same file) = %+v, want no change", ld)
	}
}

// TestLiveStartRefused: a bad file at start is an error naming the file
// and the line, and there is no policy to run with.
func TestLiveStartRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(path, []byte("groups:\n  web: 127.0.0.1-3\nbindings:\n  - users: [x]\n    role: boss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, ld, err := NewLive(path, nil)
	var pe *Error
	if l != nil || !errors.As(err, &pe) || pe.Line != 5 || ld.Err != err {
		t.Fatalf("NewLive(bad) = %v, %+v, %v; want an *Error at line 5", l, ld, err)
	}
	if _, _, err := NewLive(filepath.Join(t.TempDir(), "none.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("NewLive(no file) = %v", err)
	}
	// Without a file: the default, operators within the ceiling.
	l, _, err = NewLive("", nil)
	if err != nil || l.Hash() != "" || l.Reload() != (LoadResult{}) {
		t.Fatalf("NewLive(\"\") = %v", err)
	}
	if a := l.Policy().Access(Subject{Name: "o", Role: users.Operator}); a.Role != users.Operator {
		t.Fatalf("default policy: %+v", a)
	}
}
