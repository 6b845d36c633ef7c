package policy_test

import (
	"fmt"

	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

func Example() {
	ceiling, _ := batch.ParsePolicy("*.example.com")
	p, err := policy.Parse("team.yaml", []byte(`
groups:
  web: "web[01-04].example.com !web03.example.com"
  db: db[1-2].example.com
bindings:
  - oidc_groups: [ops]
    role: operator
    hosts: [web]
`), &policy.Options{Ceiling: ceiling})
	if err != nil {
		fmt.Println(err)
		return
	}
	a := p.Access(policy.Subject{Name: "alice", Groups: []string{"ops"}})
	fmt.Println(a.Role, a.Groups())

	hosts, _ := a.Expand("@web", nil)
	fmt.Println(hostexpr.Fold(hosts), a.Allowed(hosts))

	_, err = a.Expand("@db", nil)
	fmt.Println(err)
	hosts, _ = hostexpr.Parse("web03.example.com,db1.example.com", nil)
	fmt.Println(a.Allowed(hosts))
	// Output:
	// operator [web]
	// web[01-02,04].example.com <nil>
	// not permitted: host group @db is not one of alice's (web)
	// not permitted: web03.example.com,db1.example.com outside the host groups of alice (web)
}
