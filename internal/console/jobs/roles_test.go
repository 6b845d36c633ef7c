package jobs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// teamPolicy: web and db are loopback addresses, here is the console's
// own host (jobs that run without SSH). olga operates on web and here,
// otto on here only.
const teamPolicy = `groups:
  web: 127.0.0.1-3
  db: 127.0.0.4
  here: local
bindings:
  - users: [olga]
    role: operator
    hosts: [web, here]
  - users: [otto]
    role: operator
    hosts: [here]
`

func person(name string, role users.Role) Client {
	return Client{Name: "web " + name, Session: "s-" + name,
		Identity: auth.Identity{User: name, Role: role, Method: auth.MethodPassword}}
}

var (
	vera = person("vera", users.Viewer)
	olga = person("olga", users.Viewer) // operator by the policy's binding
	otto = person("otto", users.Operator)
	adam = person("adam", users.Admin)
)

// teamService returns a service under the policy in the file at path
// (written with text), with the ceiling 127.0.0.0/8 and local, and the
// Live holding it.
func teamService(t *testing.T, text string) (*Service, *policy.Live, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ceiling, err := batch.ParsePolicy("127.0.0.0/8,local")
	if err != nil {
		t.Fatal(err)
	}
	live, _, err := policy.NewLive(path, &policy.Options{Ceiling: ceiling})
	if err != nil {
		t.Fatal(err)
	}
	return newService(t, Options{Policy: ceiling, Roles: live.Policy}), live, path
}

// TestRunRefusedByRole: each refusal of a run for who asks: a viewer
// runs nothing, an operator only on its groups' hosts (naming those
// outside), @group only for its own groups, no one beyond the ceiling;
// none of them writes an audit record or a job.
func TestRunRefusedByRole(t *testing.T) {
	s, _, _ := teamService(t, teamPolicy)
	for _, tc := range []struct {
		name   string
		client Client
		hosts  string
		want   []string // in the refusal
	}{
		{"viewer", vera, "local", []string{"viewer: may not run jobs", "vera"}},
		{"viewer with a group", vera, "@here", []string{"viewer: may not run jobs"}},
		{"no identity", Client{Name: "web 192.0.2.1:1"}, "local", []string{"no role: may not run jobs"}},
		{"operator, another's group", olga, "@db", []string{"@db", "not one of olga's", "here, web"}},
		{"operator, unknown group", olga, "@nope", []string{"unknown host group", "@nope"}},
		{"operator, a host outside", olga, "127.0.0.4", []string{"127.0.0.4 outside the host groups of olga"}},
		{"operator, some hosts outside", olga, "@web,127.0.0.4-5", []string{"127.0.0.[4-5] outside"}},
		{"operator, group minus nothing of its own", otto, "@web", []string{"@web", "not one of otto's"}},
		{"admin beyond the ceiling", adam, "192.0.2.1", []string{"192.0.2.1", "--allow-hosts"}},
		{"operator beyond the ceiling", olga, "@here,192.0.2.1", []string{"192.0.2.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.StartFor(testContext(t), tc.hosts, "true", tc.client)
			wantCode(t, tc.name, err, CodeDenied)
			for _, w := range tc.want {
				if err != nil && !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q does not say %q", err, w)
				}
			}
		})
	}
	if recs := auditRecords(t, s.opts.Engine); len(recs) != 0 {
		t.Errorf("refused runs wrote %d audit records", len(recs))
	}
	if jobs := s.List(Filter{}); len(jobs) != 0 {
		t.Errorf("refused runs are in the history: %+v", jobs)
	}
}

// TestRunAllowedByRole: an operator runs on its groups (@here expanded),
// an admin on anything within the ceiling; the records and the audit
// records name the user, how they logged in and the role used (olga is
// a viewer by her own role, an operator by the policy).
func TestRunAllowedByRole(t *testing.T) {
	s, _, _ := teamService(t, teamPolicy)
	id := start(t, s, "@here", "true", olga)
	rec := waitState(t, s, id, StateDone)
	if rec.User != "olga" || rec.Method != auth.MethodPassword || rec.Role != "operator" || rec.Folded != "local" {
		t.Errorf("olga's job record %+v", rec)
	}
	id = start(t, s, "local", "true", adam)
	waitState(t, s, id, StateDone)
	recs := auditRecords(t, s.opts.Engine)
	if len(recs) != 4 {
		t.Fatalf("%d audit records, want 4", len(recs))
	}
	for i, want := range []struct{ user, role string }{{"olga", "operator"}, {"olga", "operator"}, {"adam", "admin"}, {"adam", "admin"}} {
		r := recs[i]
		if r.User != want.user || r.Role != want.role || r.Method != auth.MethodPassword {
			t.Errorf("audit record %d (%s): user %q, role %q, method %q; want %s, %s, password", i+1, r.Event, r.User, r.Role, r.Method, want.user, want.role)
		}
	}
	if recs[0].Event != audit.EventStart || recs[1].Event != audit.EventEnd {
		t.Errorf("olga's records: %s, %s", recs[0].Event, recs[1].Event)
	}
}

// TestCancelByRole: an operator cancels only its own jobs, a viewer
// none, an admin any.
func TestCancelByRole(t *testing.T) {
	s, _, _ := teamService(t, teamPolicy)
	ctx := testContext(t)
	mine := start(t, s, "@here", blocker, olga)
	other := start(t, s, "@here", blocker, otto)
	for _, tc := range []struct {
		name   string
		client Client
		job    string
		want   string
	}{
		{"viewer", vera, mine, "viewer: may not cancel jobs"},
		{"operator, another's job", otto, mine, "only your own jobs; job " + mine + " is olga's"},
		{"operator, another's job (2)", olga, other, "is otto's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CancelFor(ctx, tc.job, tc.client)
			wantCode(t, tc.name, err, CodeDenied)
			if err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refusal %q does not say %q", err, tc.want)
			}
		})
	}
	// A token-mode job is no operator's, even one named "admin".
	tokenJob := start(t, s, "local", blocker, Client{Name: "web 127.0.0.1:1", Identity: consoleIdentity})
	admin := Client{Name: "admin", Identity: auth.Identity{User: "admin", Role: users.Operator, Method: auth.MethodPassword}}
	wantCode(t, "an operator named admin cancels the token's job", s.CancelFor(ctx, tokenJob, admin), CodeDenied)

	if err := s.CancelFor(ctx, mine, olga); err != nil {
		t.Fatalf("olga cancels her job: %v", err)
	}
	if err := s.CancelFor(ctx, other, adam); err != nil {
		t.Fatalf("an admin cancels otto's job: %v", err)
	}
	if err := s.CancelFor(ctx, tokenJob, adam); err != nil {
		t.Fatalf("an admin cancels the token's job: %v", err)
	}
	for _, id := range []string{mine, other, tokenJob} {
		waitState(t, s, id, StateCancelled)
	}
	wantCode(t, "cancel of no job", s.CancelFor(ctx, "nosuchjob", adam), CodeNoJob)
}

// TestPolicyReloadAppliesAtOnce: the service reads the policy in force
// for every request: after a reload that moves olga from web to db, the
// same client (no new connection, no new login) is refused web and may
// count db; a bad file leaves the policy as it was.
func TestPolicyReloadAppliesAtOnce(t *testing.T) {
	s, live, path := teamService(t, teamPolicy)
	if m := s.CountFor("1", "@web", olga); m.Error != "" || m.Count != 3 || m.Denied != "" {
		t.Fatalf("count @web before: %+v", m)
	}
	if h := s.hello(olga); h.Role != "operator" || !h.MayRun || strings.Join(h.Groups, ",") != "here,web" || h.User != "olga" {
		t.Fatalf("hello before: role %q, may run %v, groups %v, user %q", h.Role, h.MayRun, h.Groups, h.User)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(teamPolicy, "hosts: [web, here]", "hosts: [db]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if ld := live.Reload(); ld.Err != nil || !ld.Changed {
		t.Fatalf("reload: %+v", ld)
	}
	_, err := s.StartFor(testContext(t), "@web", "true", olga)
	wantCode(t, "@web after the reload", err, CodeDenied)
	if m := s.CountFor("2", "@db", olga); m.Error != "" || m.Count != 1 || m.Denied != "" {
		t.Errorf("count @db after: %+v", m)
	}
	if m := s.CountFor("3", "127.0.0.1,127.0.0.4", olga); m.Denied != "127.0.0.1" {
		t.Errorf("count shows %q denied, want 127.0.0.1", m.Denied)
	}

	if err := os.WriteFile(path, []byte("groups: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ld := live.Reload(); ld.Err == nil {
		t.Fatal("a bad file reloaded")
	}
	if m := s.CountFor("4", "@db", olga); m.Error != "" || m.Count != 1 {
		t.Errorf("after a bad reload, count @db: %+v; want the policy kept", m)
	}
}

// TestHelloByRole: the hello tells the page who the viewer is, the role
// and the groups it may use; a viewer may not run.
func TestHelloByRole(t *testing.T) {
	s, _, _ := teamService(t, teamPolicy)
	for _, tc := range []struct {
		client Client
		role   string
		run    bool
		groups string
	}{
		{vera, "viewer", false, ""},
		{olga, "operator", true, "here,web"},
		{otto, "operator", true, "here"},
		{adam, "admin", true, "db,here,web"},
		{Client{}, "none", false, ""},
	} {
		h := s.hello(tc.client)
		if h.User != tc.client.Identity.User || h.Role != tc.role || h.MayRun != tc.run || strings.Join(h.Groups, ",") != tc.groups || h.Groups == nil {
			t.Errorf("hello for %q: user %q, role %q, may run %v, groups %v; want %s, %v, [%s]",
				tc.client.Identity.User, h.User, h.Role, h.MayRun, h.Groups, tc.role, tc.run, tc.groups)
		}
	}
}
