package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// The page's JSON endpoints of identity and sessions, behind the Guard:
//
//	GET  /api/me                    who the request is: user, role, method, team mode
//	GET  /api/sessions              admins: the live sessions
//	POST /api/sessions/{key}/revoke admins: end a session on every node (204)
//
// The admin check is here, on the server, from the request's identity;
// the page only hides what a user may not use. The revoke is a POST from
// the page's own origin only (http.CrossOriginProtection).

// meView is the answer of GET /api/me.
type meView struct {
	User   string `json:"user"`
	Role   string `json:"role"`
	Method string `json:"method"`
	Team   bool   `json:"team"`
}

// sessionView is one session in GET /api/sessions. Key names the session
// for a revoke (the hash of its id: it opens nothing).
type sessionView struct {
	Key     string    `json:"key"`
	Short   string    `json:"short"`
	User    string    `json:"user"`
	Role    string    `json:"role"`
	Method  string    `json:"method"`
	Created time.Time `json:"created"`
	Seen    time.Time `json:"seen"`
	Expires time.Time `json:"expires"`
	Sockets int       `json:"sockets"` // open on this node
	Yours   bool      `json:"yours"`   // the session of the request
	Expired bool      `json:"expired,omitempty"`
	Remote  string    `json:"remote,omitempty"` // the address it logged in from
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	id, _ := auth.IdentityFrom(r.Context())
	writeJSON(w, http.StatusOK, meView{User: id.User, Role: roleName(s.effectiveRole(id)), Method: id.Method, Team: s.guard.TeamMode()})
}

// adminOnly answers 403 unless the request is an admin's (by the policy
// in force: a binding may make a user an admin), and reports whether it
// was.
func (s *Server) adminOnly(w http.ResponseWriter, r *http.Request) bool {
	if id, ok := auth.IdentityFrom(r.Context()); ok && s.effectiveRole(id).AtLeast(users.Admin) {
		return true
	}
	http.Error(w, "wsdeck: only an admin may list or revoke sessions", http.StatusForbidden)
	return false
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request) {
	if !s.adminOnly(w, r) {
		return
	}
	all, err := s.sessions.List(r.Context())
	if err != nil {
		s.log.Warn("sessions: listing", "err", err)
		storeUnavailable(w)
		return
	}
	mine, _ := auth.SessionFrom(r.Context())
	now := time.Now()
	out := make([]sessionView, 0, len(all))
	for _, sess := range all {
		out = append(out, sessionView{
			Key:     sess.Key,
			Short:   sess.ShortKey(),
			User:    sess.Identity.User,
			Role:    roleName(sess.Identity.Role),
			Method:  sess.Identity.Method,
			Created: sess.Created,
			Seen:    sess.Seen,
			Expires: sess.Expires,
			Sockets: s.sockets.sessionCount(sess.Key),
			Yours:   sess.Key == mine.Key,
			Expired: !now.Before(sess.Expires),
			Remote:  sess.Remote,
		})
	}
	slices.SortFunc(out, func(a, b sessionView) int { return b.Seen.Compare(a.Seen) })
	writeJSON(w, http.StatusOK, out)
}

// apiRevoke returns the handler of POST /api/sessions/{key}/revoke.
func (s *Server) apiRevoke() http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := csrf.Check(r); err != nil {
			http.Error(w, "wsdeck: revoke refused: a page of another origin cannot revoke sessions ("+err.Error()+")", http.StatusForbidden)
			return
		}
		if !s.adminOnly(w, r) {
			return
		}
		key := r.PathValue("key")
		if len(key) != sessionKeyLen {
			http.Error(w, "wsdeck: not a session key", http.StatusBadRequest)
			return
		}
		by, _ := auth.IdentityFrom(r.Context())
		ended, err := s.revoke(r.Context(), key, by, r.RemoteAddr, "revoked")
		if err != nil {
			s.log.Warn("sessions: revoking", "err", err)
			storeUnavailable(w)
			return
		}
		if !ended {
			http.Error(w, "wsdeck: no such session (it ended already)", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// sessionKeyLen is the length of a session's key: a SHA-256 in unpadded
// base64url.
const sessionKeyLen = 43

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func storeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "wsdeck: the session store is not answering; try again", http.StatusServiceUnavailable)
}
