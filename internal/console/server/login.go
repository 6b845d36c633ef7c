package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/console/web"
)

// The login page of team mode (GET /login) and its form (POST /login): a
// user name and a password, answered with 303 to / and the session cookie
// on success, 401 with the page and one generic message on failure (the
// same for an unknown user, a disabled one and a wrong password, after the
// same work: users.Store.Verify), 429 with Retry-After while the login
// backoff says wait (users.Backoff: per user, address and pair), 403 for
// a POST from another origin (http.CrossOriginProtection). Every login
// and failed login is audited.

// loginCSP is the login page's Content-Security-Policy: no script at all,
// its own style sheet, and a form that posts only to this origin.
const loginCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// maxLoginForm bounds the body of a login POST.
const maxLoginForm = 8 << 10

// Messages of the login page. One for every wrong credential.
const (
	msgBadLogin = "Wrong user name or password."
	msgWait     = "Too many failed logins: wait %s before trying again."
	msgStore    = "The console cannot check logins right now; try again in a moment."
	msgCode     = "Enter the 6-digit code from your authenticator app, with your password again."
	msgBadCode  = "Wrong code: enter the one your authenticator app shows now, with your password again."
	msgNeed2FA  = "This console requires a second factor for your account, and you have none: ask an admin to run wsdeck user totp with your name."
)

var loginPage = template.Must(template.ParseFS(web.FS(), "login.html"))

// loginView is what the login page shows.
type loginView struct {
	Password bool   // the password form (team mode)
	SSO      bool   // a link to single sign-on (login.html has oidc.LoginPath)
	User     string // the name typed, kept after a failure
	AskCode  bool   // the second factor's code field
	Message  string
}

// renderLogin writes the login page with status.
func renderLogin(w http.ResponseWriter, status int, v loginView) {
	var b bytes.Buffer
	if err := loginPage.Execute(&b, v); err != nil {
		http.Error(w, "wsdeck: the login page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", loginCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// loginPageHandler serves GET /login: the form in team mode, a pointer to
// the token's login URL otherwise. A browser with a live session goes
// straight to the console.
func (s *Server) loginPageHandler(w http.ResponseWriter, r *http.Request) {
	if !s.guard.TeamMode() {
		renderLogin(w, http.StatusOK, loginView{})
		return
	}
	if res, _, _ := s.guard.Authenticate(r); res == auth.ByCookie {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	renderLogin(w, http.StatusOK, s.loginView("", ""))
}

// loginView returns the login page's view in team mode: the password
// form, and a link to single sign-on when it is configured (oidc.go).
func (s *Server) loginView(user, msg string) loginView {
	v := loginView{Password: true, User: user, Message: msg}
	v.SSO = s.rp != nil
	return v
}

// loginHandler returns the handler of POST /login.
func (s *Server) loginHandler() http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := csrf.Check(r); err != nil {
			s.log.Info("login refused: cross-origin", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"))
			http.Error(w, "wsdeck: login refused: a page of another origin cannot log you in ("+err.Error()+")", http.StatusForbidden)
			return
		}
		if !s.guard.TeamMode() {
			renderLogin(w, http.StatusNotFound, loginView{Message: "There are no users to log in as."})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
		if err := r.ParseForm(); err != nil {
			renderLogin(w, http.StatusBadRequest, s.loginView("", "The login form could not be read."))
			return
		}
		s.passwordLogin(w, r, r.PostForm.Get("user"), r.PostForm.Get("password"), r.PostForm.Get("code"))
	})
}

// passwordLogin checks name and password against the backoff and the
// users, then the second factor's code if the user has one, and starts a
// session or says why not. A wrong code counts as a failed login.
func (s *Server) passwordLogin(w http.ResponseWriter, r *http.Request, name, password, code string) {
	ctx := r.Context()
	addr := remoteHost(r)
	shown := name
	if len(shown) > users.MaxName {
		shown = shown[:users.MaxName]
	}
	rec := audit.Record{
		Client:     "web " + r.RemoteAddr,
		User:       shown,
		Method:     auth.MethodPassword,
		RemoteAddr: r.RemoteAddr,
		UserAgent:  r.UserAgent(),
	}
	askCode := false // the page asks for the second factor's code
	failed := func(status int, reason, msg string) {
		rec.Event, rec.Reason = audit.EventLoginFailed, reason
		s.writeAudit(ctx, rec)
		s.log.Info("login failed", "user", shown, "remote", r.RemoteAddr, "reason", reason)
		v := s.loginView(shown, msg)
		v.AskCode = askCode
		renderLogin(w, status, v)
	}
	countFailure := func() {
		if next, ferr := s.team.backoff.Fail(context.WithoutCancel(ctx), name, addr); ferr != nil {
			s.log.Warn("login: counting a failure", "err", ferr)
		} else if next > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((next+time.Second-1)/time.Second)))
		}
	}

	wait, err := s.team.backoff.Check(ctx, name, addr)
	if err != nil {
		s.log.Warn("login: the backoff's counters", "err", err)
		w.Header().Set("Retry-After", "5")
		failed(http.StatusServiceUnavailable, "backoff unavailable", msgStore)
		return
	}
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		failed(http.StatusTooManyRequests, "backoff: wait "+strconv.Itoa(secs)+" s",
			fmt.Sprintf(msgWait, time.Duration(secs)*time.Second))
		return
	}
	u, err := s.team.users.Verify(ctx, name, password)
	switch {
	case errors.Is(err, users.ErrBadLogin):
		countFailure()
		failed(http.StatusUnauthorized, "wrong user name or password", msgBadLogin)
		return
	case err != nil:
		s.log.Warn("login: checking the password", "err", err)
		w.Header().Set("Retry-After", "5")
		failed(http.StatusServiceUnavailable, "users unavailable", msgStore)
		return
	}
	// The second factor.
	rec.User, rec.Role = u.Name, u.Role.String()
	switch {
	case u.TOTP != "":
		askCode = true
		if code == "" {
			failed(http.StatusUnauthorized, "second factor: no code", msgCode)
			return
		}
		ok, err := s.team.users.UseTOTP(ctx, u, code, time.Now())
		if errors.Is(err, users.ErrWrongKey) || errors.Is(err, users.ErrNoKey) {
			s.log.Error("login: cannot check a second factor", "user", u.Name, "err", err)
		} else if err != nil {
			s.log.Warn("login: checking the second factor", "err", err)
		}
		if err != nil {
			w.Header().Set("Retry-After", "5")
			failed(http.StatusServiceUnavailable, "users unavailable", msgStore)
			return
		}
		if !ok { // wrong, stale, or used already
			countFailure()
			failed(http.StatusUnauthorized, "second factor: wrong code", msgBadCode)
			return
		}
		rec.Reason = "second factor: totp"
	case s.requires2FA(u.Role):
		failed(http.StatusForbidden, "second factor required, none enrolled", msgNeed2FA)
		return
	}
	if err := s.team.backoff.Succeed(context.WithoutCancel(ctx), u.Name, addr); err != nil {
		s.log.Warn("login: clearing the backoff", "err", err)
	}
	id := auth.Identity{User: u.Name, Role: u.Role, Method: auth.MethodPassword}
	rec.Event = audit.EventLogin
	// The record first: a login the audit log cannot hold does not happen.
	if err := s.writeAudit(ctx, rec); err != nil {
		w.Header().Set("Retry-After", "5")
		renderLogin(w, http.StatusServiceUnavailable, s.loginView(shown, msgStore))
		return
	}
	if err := s.guard.StartSession(w, r, id); err != nil {
		s.log.Warn("login: starting a session", "err", err)
		w.Header().Set("Retry-After", "5")
		renderLogin(w, http.StatusServiceUnavailable, s.loginView(shown, msgStore))
		return
	}
	s.log.Info("login", "user", u.Name, "role", u.Role.String(), "method", auth.MethodPassword, "remote", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// requires2FA reports whether a user of role must have a second factor
// (Config.Require2FA).
func (s *Server) requires2FA(role users.Role) bool {
	switch s.cfg.Require2FA {
	case Require2FAAll:
		return true
	case Require2FAAdmins:
		return role.AtLeast(users.Admin)
	}
	return false
}

// loggedOut audits a logout (auth.Options.OnLogout).
func (s *Server) loggedOut(r *http.Request, sess auth.Session) {
	if s.team == nil {
		return
	}
	s.writeAudit(r.Context(), audit.Record{
		Event:      audit.EventLogout,
		Client:     "web " + r.RemoteAddr,
		Session:    sess.ShortKey(),
		User:       sess.Identity.User,
		Method:     sess.Identity.Method,
		Role:       roleName(sess.Identity.Role),
		RemoteAddr: r.RemoteAddr,
		UserAgent:  r.UserAgent(),
	})
}

// remoteHost is the address r's connection came from, without the port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Values of Config.Require2FA (--require-2fa).
const (
	Require2FANone   = ""
	Require2FAAdmins = "admins"
	Require2FAAll    = "all"
)
