package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/oidc"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// openOIDC builds the relying party of single sign-on when Config.OIDC
// is set, and fetches the provider's discovery document. A provider that
// cannot be reached now is logged (naming the issuer) and not fatal: the
// console still serves its local users, and the login page tries the
// provider again (oidc.RP.Login).
func (s *Server) openOIDC(ctx context.Context) error {
	if s.cfg.OIDC == nil {
		return nil
	}
	cfg := *s.cfg.OIDC
	cfg.Role = s.oidcRole
	cfg.StartSession = s.guard.StartSession
	cfg.Audit = loginAuditor{s}
	cfg.Logger = s.log
	cfg.Secure = s.tls
	cfg.CookieName = strings.TrimPrefix(s.guard.CookieName(), "__Host-") + "-oidc"
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = strings.TrimSuffix(s.URL(), "/") + oidc.CallbackPath
	}
	if cfg.Now == nil {
		cfg.Now = s.cfg.now
	}
	rp, err := oidc.New(cfg)
	if err != nil {
		return err
	}
	s.rp = rp
	if err := rp.Discover(ctx); err != nil {
		s.log.Error("single sign-on: the provider cannot be reached now; the login page tries again", "issuer", cfg.Issuer, "err", err)
	} else {
		s.log.Info("single sign-on ready", "issuer", cfg.Issuer, "client_id", cfg.ClientID, "redirect_url", cfg.RedirectURL, "groups_claim", rp.GroupsClaim())
	}
	return nil
}

// oidcRoutes adds the two handlers of single sign-on, open to all (they
// are how one logs in), when it is configured.
func (s *Server) oidcRoutes(mux *http.ServeMux) {
	if s.rp == nil {
		return
	}
	mux.Handle("GET "+oidc.LoginPath, s.rp.Login())
	mux.Handle("GET "+oidc.CallbackPath, s.rp.Callback())
}

// oidcRole is the role of a user of single sign-on: what the policy in
// force (--policy, read again at each login) binds to their name or
// groups. Without a policy file there are no bindings, and such a user is
// refused.
func (s *Server) oidcRole(user string, groups []string) (users.Role, error) {
	p := policy.Default(nil)
	if s.roles != nil {
		p = s.Roles()
	}
	return p.Access(policy.Subject{Name: user, Groups: groups}).Role, nil
}

// revokeStaleOIDC ends the sessions of single sign-on whose role under
// the policy in force is not the one they started with (the policy was
// reloaded): their sockets close on every node, and the person logs in
// again with the role they now have, if any. Each revocation is audited.
func (s *Server) revokeStaleOIDC(ctx context.Context) {
	all, err := s.sessions.List(ctx)
	if err != nil {
		s.log.Warn("single sign-on: listing sessions to end those the new policy changes", "err", err)
		return
	}
	for _, sess := range all {
		id := sess.Identity
		if id.Method != auth.MethodOIDC {
			continue
		}
		role, _ := s.oidcRole(id.User, id.Groups)
		if role == id.Role {
			continue
		}
		reason := "no role under the policy now"
		if role.Valid() {
			reason = "role under the policy now " + role.String()
		}
		s.revoke(ctx, sess.Key, auth.Identity{}, "", reason)
	}
}

// loginAuditor writes the audit records of single sign-on to the
// console's audit log (the one the jobs and the policy write to).
type loginAuditor struct{ s *Server }

func (a loginAuditor) Write(ctx context.Context, rec audit.Record) (uint64, error) {
	var log *audit.Log
	switch {
	case a.s.roles != nil && a.s.roles.audit != nil:
		log = a.s.roles.audit
	case a.s.cfg.Exec != nil && a.s.cfg.Exec.Audit != nil:
		log = a.s.cfg.Exec.Audit
	default:
		return 0, nil
	}
	rec.Node = a.s.cfg.NodeName
	return log.Write(ctx, rec)
}
