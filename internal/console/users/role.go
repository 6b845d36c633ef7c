package users

import "fmt"

// Role is what a user may do in the console. Roles are ordered: each may
// do all that the ones before it may.
type Role uint8

const (
	// Viewer reads chat, the monitor and the job history.
	Viewer Role = iota + 1
	// Operator also runs jobs, on the host groups its binding names.
	Operator
	// Admin may do everything, and manage users, sessions and the policy.
	Admin
)

// Roles lists the roles in order.
var Roles = []Role{Viewer, Operator, Admin}

func (r Role) String() string {
	switch r {
	case Viewer:
		return "viewer"
	case Operator:
		return "operator"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r >= Viewer && r <= Admin }

// AtLeast reports whether r may do all that min may.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r >= min }

// ParseRole returns the role named s (viewer, operator or admin).
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (want viewer, operator or admin)", s)
}

// MarshalText writes the role's name.
func (r Role) MarshalText() ([]byte, error) {
	if !r.Valid() {
		return nil, fmt.Errorf("invalid role %d", uint8(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText reads a role's name.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
