package fleetmon

import (
	"errors"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// TestTargets: who may watch what is decided as for an Exec run: an admin
// any host within the ceiling, an operator the hosts of its groups, a
// viewer none; the page's cap and this machine ("local") refused.
func TestTargets(t *testing.T) {
	ceiling := batch.DefaultPolicy()
	p, err := policy.Parse("policy.yaml", []byte("groups:\n  web: 127.0.0.1-4\n  db: 127.0.0.20-21\n"+
		"bindings:\n  - users: [olga]\n    role: operator\n    hosts: [web]\n"), &policy.Options{Ceiling: ceiling})
	if err != nil {
		t.Fatal(err)
	}
	f := &Fleet{opts: Options{MaxHosts: 8, Roles: func() *policy.Policy { return p }}.withDefaults(), roles: p}
	admin := auth.Identity{User: auth.TokenUser, Role: users.Admin, Method: auth.MethodToken}
	olga := auth.Identity{User: "olga", Role: users.Viewer, Method: "password"}
	vera := auth.Identity{User: "vera", Role: users.Viewer, Method: "password"}
	for _, tt := range []struct {
		name string
		id   auth.Identity
		expr string
		n    int    // hosts, when allowed
		code string // the error's code, when refused
	}{
		{"admin", admin, "127.0.0.1-5", 5, ""},
		{"admin beyond --allow-hosts", admin, "10.0.0.1", 0, CodeDenied},
		{"admin over the cap", admin, "127.0.0.1-9", 0, socket.CodeInvalid},
		{"this machine", admin, "local", 0, socket.CodeInvalid},
		{"operator, its group", olga, "@web", 4, ""},
		{"operator, its hosts by address", olga, "127.0.0.2-3", 2, ""},
		{"operator, another group", olga, "@db", 0, CodeDenied},
		{"operator, other hosts", olga, "127.0.0.20", 0, CodeDenied},
		{"viewer", vera, "127.0.0.1", 0, CodeDenied},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := f.targets(tt.id, tt.expr)
			if tt.code == "" {
				if err != nil || len(hosts) != tt.n {
					t.Fatalf("%d hosts, %v; want %d", len(hosts), err, tt.n)
				}
				return
			}
			var se *socket.Error
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			t.Logf("%v", err)
		})
	}
}
