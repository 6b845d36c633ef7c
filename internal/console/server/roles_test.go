package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/jobs"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/websocket"
)

const rolesPolicy = `groups:
  web: 127.0.0.1-3
  db: 127.0.0.4
bindings:
  - users: [olga]
    role: operator
    hosts: [web]
`

// policyRecords returns the reasons of the policy records of ts's audit
// log, in order.
func policyRecords(t *testing.T, ts *testServer) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	recs, err := audit.Read(ctx, ts.roles.audit.Stream(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Event == audit.EventPolicy {
			out = append(out, r.Reason)
		}
	}
	return out
}

// TestPolicyFile: a console with --policy reads it at start (audited with
// the file's hash), and on each reload signal: a good file applies at
// once, a bad one is refused, named by file and line, and the policy in
// force is kept; every read is audited. The Exec hello gives the
// groups of the policy in force.
func TestPolicyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(path, []byte(rolesPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	reload := make(chan os.Signal)
	ts := start(t, Config{Exec: &jobs.Options{}, PolicyFile: path, PolicyReload: reload})
	olga := func() []string { return ts.Roles().Access(policy.Subject{Name: "olga", Role: users.Viewer}).Groups() }
	if g := olga(); len(g) != 1 || g[0] != "web" {
		t.Fatalf("olga's groups at start: %v", g)
	}
	first := ts.roles.live.Hash()
	if recs := policyRecords(t, ts); len(recs) != 1 || recs[0] != "loaded at start, sha256 "+first {
		t.Fatalf("policy records at start: %q", recs)
	}
	c := ts.mustDial(t, "/ws/exec")
	if m := readMsg(t, c); m["type"] != "hello" || m["role"] != "admin" || m["may_run"] != true || len(m["groups"].([]any)) != 2 {
		t.Fatalf("hello %v, want the token's admin with both groups", m)
	}

	// A good file: applied once the signal is read.
	if err := os.WriteFile(path, []byte(strings.Replace(rolesPolicy, "hosts: [web]", "hosts: [db]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- os.Interrupt
	poll.Until(t, testTimeout, "the reload audited", func() bool { return len(policyRecords(t, ts)) == 2 })
	second := ts.roles.live.Hash()
	if recs := policyRecords(t, ts); recs[1] != "reloaded, sha256 "+second+" (was "+first+")" || second == first {
		t.Fatalf("policy records: %q", recs)
	}
	if g := olga(); len(g) != 1 || g[0] != "db" {
		t.Fatalf("olga's groups after the reload: %v", g)
	}

	// A bad file: refused, the policy in force kept.
	if err := os.WriteFile(path, []byte(rolesPolicy+"    extra: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- os.Interrupt
	poll.Until(t, testTimeout, "the refusal audited", func() bool { return len(policyRecords(t, ts)) == 3 })
	recs := policyRecords(t, ts)
	if !strings.HasPrefix(recs[2], "refused, sha256 ") || !strings.Contains(recs[2], path+":8:") || !strings.HasSuffix(recs[2], "; kept sha256 "+second) {
		t.Fatalf("policy record of a bad file: %q", recs[2])
	}
	if g := olga(); len(g) != 1 || g[0] != "db" || ts.roles.live.Hash() != second {
		t.Fatalf("after a bad file, olga's groups %v: want the policy kept", g)
	}
}

// TestPolicyFileBadAtStart: a console whose policy file is bad does not
// start, and says which file and line.
func TestPolicyFileBadAtStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(path, []byte("groups:\n  web: 127.0.0.1-3\nbindings:\n  - users: [x]\n    role: boss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Addr: "127.0.0.1:0", Token: testToken, Engine: engine.Config{StateDir: t.TempDir()}, Exec: &jobs.Options{}, PolicyFile: path})
	if err == nil {
		s.close()
		t.Fatal("a console started with a bad policy file")
	}
	if !strings.Contains(err.Error(), path+":5:") {
		t.Fatalf("error %q does not name %s:5", err, path)
	}
}

// TestEffectiveRole: the role the header and the sessions API go by is
// the policy's: a binding raises a local user's own role, never lowers
// it, and a user of single sign-on has only what bindings give.
func TestEffectiveRole(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(path, []byte(rolesPolicy+"  - oidc_groups: [sre]\n    role: admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := start(t, Config{Exec: &jobs.Options{}, PolicyFile: path})
	for _, tc := range []struct {
		id   auth.Identity
		want users.Role
	}{
		{auth.Identity{User: "olga", Role: users.Viewer, Method: auth.MethodPassword}, users.Operator},
		{auth.Identity{User: "olga", Role: users.Admin, Method: auth.MethodPassword}, users.Admin},
		{auth.Identity{User: "vera", Role: users.Viewer, Method: auth.MethodPassword}, users.Viewer},
		{auth.Identity{User: "sam", Role: users.Admin, Method: auth.MethodOIDC}, 0},
		{auth.Identity{User: "sam", Role: users.Viewer, Method: auth.MethodOIDC, Groups: []string{"sre"}}, users.Admin},
	} {
		if got := ts.effectiveRole(tc.id); got != tc.want {
			t.Errorf("effectiveRole(%+v) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestRolesOverSockets: logged-in users' /ws/exec messages are checked
// against the policy in force when each comes: a viewer's run and
// cancel are refused, an operator's run on a group not theirs is refused
// naming it and one on its own group runs; after a reload that takes the
// group away, the socket is told its new groups (an access message) and
// its next run is refused.
func TestRolesOverSockets(t *testing.T) {
	t.Parallel()
	const text = `groups:
  here: local
  db: 127.0.0.4
bindings:
  - users: [olga]
    role: operator
    hosts: [here]
`
	path := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ceiling, err := batch.ParsePolicy("127.0.0.0/8,local")
	if err != nil {
		t.Fatal(err)
	}
	reload := make(chan os.Signal)
	ts := startTeam(t, Config{Exec: &jobs.Options{Policy: ceiling}, PolicyFile: path, PolicyReload: reload})
	addUser(t, ts, "olga", users.Viewer, "olga-password")
	addUser(t, ts, "vera", users.Viewer, "vera-password")
	dialAs := func(user string) *websocket.Conn {
		t.Helper()
		ws, _, err := ts.dial(t, "/ws/exec", cookieHeader(ts.passwordLogin(t, user, user+"-password")))
		if err != nil {
			t.Fatal(err)
		}
		if m := readMsg(t, ws); m["type"] != "hello" || m["user"] != user {
			t.Fatalf("%s's first message: %v", user, m)
		}
		return ws
	}
	// answer sends a run or cancel and returns the reply to it (by id).
	answer := func(ws *websocket.Conn, msg map[string]string) map[string]any {
		t.Helper()
		writeMsg(t, ws, msg)
		for {
			if m := readMsg(t, ws); m["id"] == msg["id"] && (m["type"] == "error" || m["type"] == "accepted") {
				return m
			}
		}
	}
	denied := func(who string, m map[string]any, want string) {
		t.Helper()
		if m["type"] != "error" || m["code"] != jobs.CodeDenied || !strings.Contains(m["error"].(string), want) {
			t.Errorf("%s: %v, want denied: %q", who, m, want)
		}
	}

	olga := dialAs("olga")
	denied("olga's run on @db", answer(olga, map[string]string{"type": "run", "id": "1", "hosts": "@db", "command": "true"}), "@db is not one of olga's (here)")
	m := answer(olga, map[string]string{"type": "run", "id": "2", "hosts": "@here", "command": "sleep 60"})
	if m["type"] != "accepted" {
		t.Fatalf("olga's run on @here: %v", m)
	}
	job := m["job"].(string)

	vera := dialAs("vera")
	denied("vera's run", answer(vera, map[string]string{"type": "run", "id": "3", "hosts": "local", "command": "true"}), "viewer: may not run jobs")
	denied("vera's cancel", answer(vera, map[string]string{"type": "cancel", "id": "4", "job": job}), "viewer: may not cancel jobs")

	// The binding moves to db: olga's next run on @here, on the same
	// socket, is refused.
	if err := os.WriteFile(path, []byte(strings.Replace(text, "hosts: [here]", "hosts: [db]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	was := ts.roles.live.Hash()
	reload <- os.Interrupt
	poll.Until(t, testTimeout, "the policy reloaded", func() bool { return ts.roles.live.Hash() != was })
	// Her open socket is told what she may do now.
	for {
		m := readMsg(t, olga)
		if m["type"] != "access" {
			continue
		}
		if m["user"] != "olga" || m["role"] != "operator" || m["may_run"] != true || fmt.Sprint(m["groups"]) != "[db]" {
			t.Errorf("access message after the reload: %v", m)
		}
		break
	}
	denied("olga's run on @here after the reload", answer(olga, map[string]string{"type": "run", "id": "5", "hosts": "@here", "command": "true"}), "@here is not one of olga's (db)")
	// Her own job is still hers to cancel.
	writeMsg(t, olga, map[string]string{"type": "cancel", "id": "6", "job": job})
	for {
		m := readMsg(t, olga)
		if m["type"] == "error" {
			t.Fatalf("olga's cancel of her job: %v", m)
		}
		if m["type"] == "state" && m["job"].(map[string]any)["id"] == job && m["job"].(map[string]any)["state"] == "cancelled" {
			break
		}
	}
}
