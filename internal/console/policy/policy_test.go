package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// example is the file most tests evaluate. Line numbers matter to
// TestParseErrors' cases built from it.
const example = `groups:
  web: "web[01-20].example.com !web13.example.com"
  db: [db1.example.com, db2.example.com, db3.example.com]
  lab: 10.0.0.1-10
bindings:
  - users: [alice]
    role: operator
    hosts: [web]
  - oidc_groups: [ops]
    role: operator
    hosts: [web, db]
  - users: [bob]
    role: admin
  - oidc_groups: [auditors]
    role: viewer
  - users: [Carol]
    role: operator
    hosts: ["@lab"]
`

// ceiling leaves db3 and 10.0.0.8-10 out.
const ceiling = "web[01-20].example.com,db[1-2].example.com,10.0.0.0/29,local"

func parseExample(t *testing.T) *Policy {
	t.Helper()
	c, err := batch.ParsePolicy(ceiling)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("team.yaml", []byte(example), &Options{Ceiling: c})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func hosts(t *testing.T, expr string) []hostexpr.Host {
	t.Helper()
	h, err := hostexpr.Parse(expr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var (
	alice    = Subject{Name: "alice"}
	bob      = Subject{Name: "bob"}
	carol    = Subject{Name: "carol"}
	opsDave  = Subject{Name: "dave", Groups: []string{"staff", "ops"}}
	viewEve  = Subject{Name: "eve", Groups: []string{"auditors"}}
	bothFay  = Subject{Name: "fay", Groups: []string{"auditors", "ops"}}
	localOp  = Subject{Name: "frank", Role: users.Operator}
	localAdm = Subject{Name: "alice", Role: users.Admin}
	nobody   = Subject{Name: "mallory", Groups: []string{"opz"}}
)

func TestAccessRoleAndGroups(t *testing.T) {
	t.Parallel()
	p := parseExample(t)
	for _, tc := range []struct {
		name   string
		s      Subject
		role   users.Role
		groups string
	}{
		{"a user's binding", alice, users.Operator, "web"},
		{"user names without case", Subject{Name: "ALICE"}, users.Operator, "web"},
		{"a binding's user name without case", carol, users.Operator, "lab"},
		{"an OIDC group's binding", opsDave, users.Operator, "db,web"},
		{"admin: every group", bob, users.Admin, "db,lab,web"},
		{"viewer: no group", viewEve, users.Viewer, ""},
		{"the highest of two bindings", bothFay, users.Operator, "db,web"},
		{"the user's own role when higher", localAdm, users.Admin, "db,lab,web"},
		{"the user's own role without binding", localOp, users.Operator, ""},
		{"no role", nobody, 0, ""},
		{"OIDC group names with case", Subject{Name: "x", Groups: []string{"OPS"}}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := p.Access(tc.s)
			if a.Role != tc.role || strings.Join(a.Groups(), ",") != tc.groups {
				t.Fatalf("Access(%+v) = %v %q; want %v %q", tc.s, a.Role, a.Groups(), tc.role, tc.groups)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	p := parseExample(t)
	def := Default(&Options{Ceiling: p.ceiling})
	for _, tc := range []struct {
		name    string
		p       *Policy
		s       Subject
		expr    string
		wantErr string // "" for allowed
		ceiling bool   // the error is the ceiling's
	}{
		{"operator in its group", p, alice, "web[01-03].example.com", "", false},
		{"user and port do not count", p, alice, "root@web02.example.com:2222", "", false},
		{"a host the group excludes", p, alice, "web12.example.com,web13.example.com", "web13.example.com outside the host groups of alice (web)", false},
		{"a host of another group", p, alice, "web01.example.com,db1.example.com,db2.example.com", "db[1-2].example.com outside the host groups of alice (web)", false},
		{"an OIDC group's hosts", p, opsDave, "db[1-2].example.com,web20.example.com", "", false},
		{"the ceiling over a binding", p, opsDave, "db3.example.com", "db3.example.com", true},
		{"the ceiling over an IP group", p, carol, "10.0.0.5,10.0.0.9", "10.0.0.9", true},
		{"an IP group", p, carol, "10.0.0.1-7", "", false},
		{"admin anywhere within the ceiling", p, bob, "db2.example.com,10.0.0.3,local", "", false},
		{"admin not beyond the ceiling", p, bob, "db3.example.com,evil.example.org", "db3.example.com,evil.example.org", true},
		{"viewer runs nothing", p, viewEve, "web01.example.com", "eve is a viewer", false},
		{"viewer even with an operator's group name", p, Subject{Name: "v", Role: users.Viewer}, "local", "v is a viewer", false},
		{"operator without groups", p, localOp, "web01.example.com", "frank is an operator without host groups in team.yaml", false},
		{"no role", p, nobody, "local", "mallory has no role", false},
		{"no policy file: operator within the ceiling", def, localOp, "web05.example.com,local", "", false},
		{"no policy file: still the ceiling", def, localOp, "db3.example.com", "db3.example.com", true},
		{"no policy file: viewer runs nothing", def, Subject{Name: "v", Role: users.Viewer}, "local", "v is a viewer", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.p.Allowed(tc.s, hosts(t, tc.expr))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Allowed = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Allowed = %v; want ErrDenied naming %q", err, tc.wantErr)
			}
			if errors.Is(err, batch.ErrNotAllowed) != tc.ceiling {
				t.Fatalf("Allowed = %v; the ceiling's error: %v, want %v", err, !tc.ceiling, tc.ceiling)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	p := parseExample(t)
	for _, tc := range []struct {
		name    string
		s       Subject
		expr    string
		opts    *hostexpr.Options
		want    string // Fold of the hosts
		wantErr error
		errText string
	}{
		{"a group", alice, "@web", nil, "web[01-12,14-20].example.com", nil, ""},
		{"a group less a host", alice, "@web !web01.example.com", nil, "web[02-12,14-20].example.com", nil, ""},
		{"admin's groups", bob, "@db,@lab", nil, "db[1-3].example.com,10.0.0.[1-10]", nil, ""},
		{"less a group", opsDave, "@web,@db !@web", nil, "db[1-3].example.com", nil, ""},
		{"no group at all", viewEve, "local", nil, "local", nil, ""},
		{"a group not the user's", alice, "@web,@db", nil, "", ErrDenied, "host group @db is not one of alice's (web)"},
		{"an unknown group", alice, "@dbs", nil, "", ErrUnknownGroup, "@dbs (yours: web)"},
		{"a lone @", alice, "@web @", nil, "", ErrUnknownGroup, ""},
		{"a viewer", viewEve, "@web", nil, "", ErrDenied, "viewer"},
		{"the cap counts the group", alice, "@web", &hostexpr.Options{MaxHosts: 10}, "", hostexpr.ErrTooManyHosts, "names 19 hosts, more than the limit of 10"},
		{"everything excluded", alice, "@web !@web", nil, "", hostexpr.ErrNoHosts, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.Access(tc.s).Expand(tc.expr, tc.opts)
			if tc.wantErr != nil || tc.errText != "" {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Expand(%q) = %v; want %v with %q", tc.expr, err, tc.wantErr, tc.errText)
				}
				return
			}
			if err != nil || hostexpr.Fold(got) != tc.want {
				t.Fatalf("Expand(%q) = %s, %v; want %s", tc.expr, hostexpr.Fold(got), err, tc.want)
			}
		})
	}
}

// TestExpandInPlace: a group's hosts take its place in the expression.
func TestExpandInPlace(t *testing.T) {
	t.Parallel()
	p := parseExample(t)
	got, err := p.Access(alice).Expand("web05.example.com,@web web20.example.com", nil)
	if err != nil || len(got) != 19 || got[0].Name != "web05.example.com" || got[1].Name != "web01.example.com" || got[18].Name != "web20.example.com" {
		t.Fatalf("Expand = %v, %v; want web05 first, then the group in its order", got, err)
	}
}

// TestExpandSyntaxErrorInPlace: a syntax error beside a group points at
// its place in the expression as written.
func TestExpandSyntaxErrorInPlace(t *testing.T) {
	t.Parallel()
	p := parseExample(t)
	_, err := p.Access(alice).Expand("@web web[1-", nil)
	var se *hostexpr.SyntaxError
	if !errors.As(err, &se) || se.Offset != 8 || se.Expr != "@web web[1-" {
		t.Fatalf("Expand = %v; want a SyntaxError at offset 8 of the expression", err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	line := func(n int, s string) string { // example with line n replaced
		l := strings.Split(example, "\n")
		l[n-1] = s
		return strings.Join(l, "\n")
	}
	for _, tc := range []struct {
		name string
		file string
		line int
		msg  string
	}{
		{"an unknown top field", "grups:\n  web: a\n", 1, "field grups not found at the top"},
		{"an unknown binding field", line(7, "    rol: operator"), 7, "field rol not found in a binding"},
		{"a bad role", line(7, "    role: root"), 7, `unknown role "root"`},
		{"a duplicate field", line(7, "    users: [alice2]"), 7, `mapping key "users" already defined at line 6`},
		{"a missing role", "groups: {w: local}\nbindings:\n  - users: [a]\n    hosts: [w]\n", 3, "a binding needs a role"},
		{"an unknown group", line(11, "    hosts: [web, dbs]"), 11, `unknown host group "dbs" (the file's groups: db, lab, web)`},
		{"hosts on a viewer", line(15, "    role: viewer\n    hosts: [web]"), 16, "hosts on a viewer's binding"},
		{"hosts on an admin", line(13, "    role: admin\n    hosts: [web]"), 14, "hosts on an admin's binding"},
		{"an operator without hosts", line(8, ""), 6, "an operator's binding names its host groups"},
		{"a binding naming no one", "groups: {w: local}\nbindings:\n  - role: operator\n    hosts: [w]\n", 3, "a binding names users, oidc_groups or both"},
		{"a bad user name", line(6, `  - users: ["al ice"]`), 6, `user name "al ice"`},
		{"an empty group", line(2, `  web: ""`), 2, "group web names no host"},
		{"a group with a user", line(2, `  web: "root@web1"`), 2, "without a user or port"},
		{"a group with a port", line(2, `  web: "web1:22"`), 2, "without a user or port"},
		{"a group naming a group", line(2, `  web: "@db"`), 2, "not other groups"},
		{"a group's syntax", line(2, `  web: "web[1-"`), 2, "'[' without ']'"},
		{"a bad group name", line(2, `  1web: "web1"`), 2, `group name "1web"`},
		{"a group as a mapping", line(2, `  web: {a: b}`), 2, "a group is a host expression or a list of them"},
		{"a group beyond the cap", line(2, `  web: "10.0.0.0/8"`), 2, "names 16777214 hosts: the groups of a file may name 65536 in all"},
		{"groups beyond the cap together", "groups:\n  a: h[1-40000]\n  b: g[1-40000]\n", 3, "group b names 40000 hosts"},
		{"a duplicate group", line(3, `  web: db1`), 3, `mapping key "web" already defined at line 2`},
		{"YAML syntax", "groups: [\n", 1, "did not find expected node content"},
		{"two documents", example + "---\ngroups: {}\n", 20, "a second YAML document"},
		{"too large", "# " + strings.Repeat("x", MaxFileSize), 0, "larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("team.yaml", []byte(tc.file), nil)
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "team.yaml" || pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) {
				t.Fatalf("Parse = %v; want an *Error at team.yaml:%d with %q", err, tc.line, tc.msg)
			}
			if tc.line > 0 && !strings.HasPrefix(err.Error(), "policy team.yaml:") {
				t.Fatalf("error %q does not start with the file and line", err)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"", "# nothing yet\n", "groups: {}\nbindings: []\n"} {
		p, err := Parse("team.yaml", []byte(f), nil)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", f, err)
		}
		if a := p.Access(localOp); a.Role != users.Operator || len(a.Groups()) != 0 {
			t.Fatalf("Parse(%q): a local operator gets %v %v", f, a.Role, a.Groups())
		}
		if err := p.Allowed(localOp, hosts(t, "local")); !errors.Is(err, ErrDenied) {
			t.Fatalf("Parse(%q): an operator without groups is allowed: %v", f, err)
		}
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "team.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Hosts("db"); strings.Join(got, ",") != "db1.example.com,db2.example.com,db3.example.com" {
		t.Fatalf("Hosts(db) = %q", got)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("#"+strings.Repeat(" ", MaxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Load(a file beyond the limit) = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(no file) = %v", err)
	}
}

// FuzzPolicy: parsing never panics, fails only with an *Error, and a
// policy it accepts stays within MaxHosts and can be evaluated and
// expanded.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(""))
	f.Add([]byte("groups:\n  a: h[1-40000]\n  b: g[1-40000]\n"))
	f.Add([]byte("groups:\n  w: [\"a[1-3]\", \"!a2\"]\nbindings:\n  - users: [x]\n    oidc_groups: [g]\n    role: operator\n    hosts: [w]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("groups: {x: &x y, z: *x}\n"))
	f.Add([]byte("bindings:\n  - {users: [a], role: admin}\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data, nil)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error %v is not an *Error", err)
			}
			return
		}
		total := 0
		for _, g := range p.order {
			total += len(p.groups[g].names)
		}
		if total > MaxHosts {
			t.Fatalf("the groups hold %d hosts, beyond %d", total, MaxHosts)
		}
		admin := p.Access(Subject{Name: "root", Role: users.Admin})
		for _, g := range admin.Groups() {
			if _, err := admin.Expand("@"+g, &hostexpr.Options{MaxHosts: -1}); err != nil && !errors.Is(err, hostexpr.ErrNoHosts) {
				t.Fatalf("Expand(@%s) = %v", g, err)
			}
		}
		for _, b := range p.bindings {
			for _, u := range b.users {
				p.Access(Subject{Name: u}).Allowed([]hostexpr.Host{{Name: "local"}})
			}
		}
	})
}
