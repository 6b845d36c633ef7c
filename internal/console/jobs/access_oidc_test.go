package jobs

import (
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// TestAccessOIDCOnlyByBindings: a user of single sign-on has only what the
// policy in force binds to their name or groups, whatever role their
// session started with; a local user keeps their own role.
func TestAccessOIDCOnlyByBindings(t *testing.T) {
	t.Parallel()
	p, err := policy.Parse("policy.yaml", []byte("groups:\n  web: web1.example.com\nbindings:\n  - oidc_groups: [sre]\n    role: operator\n    hosts: [web]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{defaultRoles: p}
	for _, tc := range []struct {
		name string
		id   auth.Identity
		want users.Role
	}{
		{"oidc, its group unbound since the login", auth.Identity{User: "olivia", Role: users.Admin, Method: auth.MethodOIDC, Groups: []string{"ops"}}, 0},
		{"oidc, its group bound", auth.Identity{User: "olivia", Role: users.Admin, Method: auth.MethodOIDC, Groups: []string{"sre"}}, users.Operator},
		{"password, own role", auth.Identity{User: "alice", Role: users.Admin, Method: auth.MethodPassword}, users.Admin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.access(Client{Identity: tc.id}).Role; got != tc.want {
				t.Fatalf("role %v; want %v", got, tc.want)
			}
		})
	}
}
