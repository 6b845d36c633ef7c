package shell

import (
	"errors"
	"fmt"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Who may do what (checked for every message, against the policy in force):
//
//   - open: operators, on hosts the policy lets them reach (the same
//     expressions, groups and --allow-hosts ceiling as Exec); admins, any
//     host within the ceiling. A local terminal (a shell on the console's
//     own machine, as the user the console runs as) only admins, and only
//     if the ceiling lists local. Viewers open none.
//   - attach: the owner (same user, same login method) reads and types;
//     an admin may watch any session; others may watch a session its
//     owner shared (ShareWatch), and type if the owner allowed it
//     (ShareType).
//   - close and share: the owner; close also an admin.

// errDenied is wrapped by every refusal.
var errDenied = errors.New("denied")

// access evaluates the policy in force for id.
func (r *Registry) access(id auth.Identity) *policy.Access {
	own := id.Role
	if id.Method == auth.MethodOIDC {
		own = 0
	}
	return r.roles().Access(policy.Subject{Name: id.User, Role: own, Groups: id.Groups})
}

// targets expands expr for a and checks that a may open terminals on
// its hosts: at most max of them.
func (r *Registry) targets(a *policy.Access, expr string, most int) ([]hostexpr.Host, error) {
	switch {
	case a.Role == users.Viewer:
		return nil, fmt.Errorf("%w: viewer: may not open terminals (%s)", errDenied, a.Subject.Name)
	case !a.Role.AtLeast(users.Operator):
		return nil, fmt.Errorf("%w: no role: may not open terminals", errDenied)
	}
	hosts, err := a.Expand(expr, &hostexpr.Options{MaxHosts: most})
	if err != nil {
		if errors.Is(err, policy.ErrDenied) || errors.Is(err, policy.ErrUnknownGroup) {
			return nil, fmt.Errorf("%w: %v", errDenied, err)
		}
		return nil, err
	}
	if err := a.Allowed(hosts); err != nil {
		if errors.Is(err, batch.ErrNotAllowed) {
			return nil, fmt.Errorf("%w: %v: start the console with --allow-hosts to reach them", errDenied, err)
		}
		return nil, fmt.Errorf("%w: %v", errDenied, err)
	}
	for _, h := range hosts {
		if h.IsLocal() && a.Role != users.Admin {
			return nil, fmt.Errorf("%w: a local terminal (a shell on the console's machine) is for admins only", errDenied)
		}
	}
	return hosts, nil
}

// ownerOf returns the owner an identity makes.
func ownerOf(id auth.Identity) Owner { return Owner{User: id.User, Method: id.Method} }

// mayAttach says whether id may attach to s, and whether as its owner
// (who types); a watcher types only while the share is ShareType.
func (r *Registry) mayAttach(id auth.Identity, s *Session) (owner bool, err error) {
	if ownerOf(id) == s.Owner {
		return true, nil
	}
	a := r.access(id)
	switch sh := s.Shared(); {
	case !a.Role.Valid():
		return false, fmt.Errorf("%w: no role", errDenied)
	case a.Role == users.Admin, sh == ShareWatch, sh == ShareType:
		return false, nil
	}
	return false, fmt.Errorf("%w: session %s is %s's and not shared", errDenied, s.Meta.ID, s.Owner.User)
}

// mayClose says whether id may end s.
func (r *Registry) mayClose(id auth.Identity, s *Session) error {
	if ownerOf(id) == s.Owner || r.access(id).Role == users.Admin {
		return nil
	}
	return fmt.Errorf("%w: only %s (or an admin) may close session %s", errDenied, s.Owner.User, s.Meta.ID)
}
