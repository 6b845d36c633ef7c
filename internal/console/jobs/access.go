package jobs

import (
	"errors"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// access evaluates the policy in force for client, as it is now: every
// message asks again, so that a policy reload applies at once. A user of
// single sign-on has no role of their own: the role their session
// started with came from the bindings, and only the bindings in force
// count.
func (s *Service) access(c Client) *policy.Access {
	id := c.Identity
	own := id.Role
	if id.Method == auth.MethodOIDC {
		own = 0
	}
	return s.roles().Access(policy.Subject{Name: id.User, Role: own, Groups: id.Groups})
}

// roles returns the policy in force.
func (s *Service) roles() *policy.Policy {
	if s.opts.Roles != nil {
		if p := s.opts.Roles(); p != nil {
			return p
		}
	}
	return s.defaultRoles
}

// mayRun refuses a client whose role runs no jobs, with a reason the page
// shows.
func mayRun(a *policy.Access) error {
	switch {
	case a.Role == users.Viewer:
		return socket.Errorf(CodeDenied, "viewer: may not run jobs (%s)", a.Subject.Name)
	case !a.Role.AtLeast(users.Operator):
		return socket.Errorf(CodeDenied, "no role: may not run jobs (%s)", nameOr(a.Subject.Name))
	}
	return nil
}

func nameOr(name string) string {
	if name == "" {
		return "an unknown user"
	}
	return name
}

// targets expands expr for a and checks its hosts against a: the groups
// (@NAME) it may use, the hosts it may reach, and the ceiling. Refusals
// are *socket.Errors naming the group or the hosts.
func (s *Service) targets(a *policy.Access, expr string) ([]hostexpr.Host, error) {
	hosts, err := a.Expand(expr, &hostexpr.Options{MaxHosts: s.opts.MaxHosts})
	switch {
	case errors.Is(err, policy.ErrDenied), errors.Is(err, policy.ErrUnknownGroup):
		return nil, socket.Errorf(CodeDenied, "%v", err)
	case err != nil:
		return nil, socket.Errorf(socket.CodeInvalid, "%v", err)
	}
	if err := a.Allowed(hosts); err != nil {
		if errors.Is(err, batch.ErrNotAllowed) {
			return nil, socket.Errorf(CodeDenied, "%v: start the console with --allow-hosts to reach them", err)
		}
		return nil, socket.Errorf(CodeDenied, "%v", err)
	}
	return hosts, nil
}

// mayCancel says whether a may cancel the job of rec: an admin any, an
// operator its own (the same user, logged in the same way), a viewer
// none.
func mayCancel(a *policy.Access, id auth.Identity, rec *Record) error {
	switch {
	case a.Role == users.Admin:
		return nil
	case a.Role == users.Viewer:
		return socket.Errorf(CodeDenied, "viewer: may not cancel jobs (%s)", a.Subject.Name)
	case !a.Role.Valid():
		return socket.Errorf(CodeDenied, "no role: may not cancel jobs (%s)", nameOr(a.Subject.Name))
	case rec.Method == auth.MethodToken || rec.Method != id.Method || rec.User != id.User:
		return socket.Errorf(CodeDenied, "operator: may cancel only your own jobs; job %s is %s's", rec.ID, owner(rec))
	}
	return nil
}

func owner(rec *Record) string {
	if rec.Method == "" || rec.Method == auth.MethodToken {
		return rec.Client
	}
	return rec.User
}
