package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// Team mode is decided live: every node watches the engine's users bucket
// (wsdeck user add, even with the console running on a shared --nats),
// and is in team mode while the bucket holds a user or single sign-on is
// configured. In team mode the token opens nothing (auth.Guard.SetTeamMode)
// and people log in at /login (login.go).
//
// The same watch ends sessions: when a user is removed, disabled, given
// another role, or a new password or second factor, every node sees it, and their sessions are revoked
// (auth.KVStore.Revoke: one node wins each, and audits it); the deletion
// reaches every node's watch of the sessions bucket, which closes that
// session's sockets there (watchSessionEnds).

// team is the state of team mode: the users, the login backoff and the
// audit log the logins are recorded in.
type team struct {
	users   *users.Store
	bucket  *engine.Bucket
	backoff *users.Backoff
	audit   *audit.Log

	mu    sync.Mutex
	known map[string]userState // guarded by mu: the users the watch has seen, by name
	sso   bool                 // single sign-on configured: team mode whatever the users
}

// userState is what of a user their sessions depend on.
type userState struct {
	role        users.Role
	disabled    bool
	credentials int64 // User.CredentialsChanged, in Unix nanoseconds; 0 for never
}

// teamModeReason is why a token's session or socket ends in team mode.
const teamModeReason = "team mode: the token opens nothing"

// auditTimeout bounds the writing of one audit record of a login.
const auditTimeout = 10 * time.Second

// openTeam opens the users bucket, the login backoff and the audit log
// (the one jobs write to, shared), and decides team mode from the users
// there now. On error, nothing needs closing (all are in the engine).
func (s *Server) openTeam(ctx context.Context) error {
	switch s.cfg.Require2FA {
	case Require2FANone, Require2FAAdmins, Require2FAAll:
	default:
		return fmt.Errorf("server: require 2FA %q: want %q, %q or none", s.cfg.Require2FA, Require2FAAdmins, Require2FAAll)
	}
	b, err := s.engine.Bucket(ctx, engine.BucketConfig{Name: users.BucketName, MaxValueSize: 4096})
	if err != nil {
		return fmt.Errorf("server: users: %w", err)
	}
	bo, err := users.OpenBackoff(ctx, s.engine, &s.cfg.LoginBackoff)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	log, err := s.sharedAudit(ctx) // the jobs' and the policy's (endpoints.go)
	if err != nil {
		return err
	}
	var uopts users.Options
	if s.cfg.userOptions != nil {
		uopts = *s.cfg.userOptions
	}
	if uopts.SecretKey == nil {
		if uopts.SecretKey, err = s.secretKey(); err != nil {
			return err
		}
	}
	s.team = &team{
		users:   users.New(b, &uopts),
		bucket:  b,
		backoff: bo,
		audit:   log,
		known:   map[string]userState{},
		sso:     s.ssoConfigured(),
	}
	keys, err := b.Keys(ctx)
	if err != nil {
		return fmt.Errorf("server: users: %w", err)
	}
	s.guard.SetTeamMode(len(keys) > 0 || s.team.sso)
	return nil
}

// watchTeam watches the users bucket until the sockets' context is done:
// it keeps team mode up to date and revokes the sessions of users removed,
// disabled or given another role. The returned function waits for the
// watch to stop.
func (s *Server) watchTeam() (wait func()) {
	changed := make(chan string, 64)
	all := make(chan struct{}, 1) // a pass over every session: at start, and when changed overflowed
	done := make(chan struct{})
	var ready atomic.Bool // the watch is past the users there at start
	w, err := s.team.bucket.Watch(s.sockCtx, "", func(e engine.Entry) {
		name, ok := s.team.seen(e)
		on := s.team.on()
		was := s.guard.TeamMode()
		s.guard.SetTeamMode(on)
		if on && !was && ready.Load() {
			// Team mode came on: the token's sessions end now, not
			// at their next use.
			ok, name = true, ""
		}
		if !ok || !ready.Load() {
			return
		}
		select {
		case changed <- name:
		default:
			select {
			case all <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		s.log.Warn("team: not watching the users: team mode and the users' sessions follow changes only at restart", "err", err)
		close(done)
		return func() {}
	}
	go func() {
		defer close(done)
		select {
		case <-w.Ready():
		case <-s.sockCtx.Done():
			return
		}
		ready.Store(true)
		all <- struct{}{} // users changed while no node was watching, or during the replay
		for {
			select {
			case <-s.sockCtx.Done():
				return
			case name := <-changed:
				s.revokeStale(s.sockCtx, name)
			case <-all:
				s.revokeStale(s.sockCtx, "")
			}
		}
	}()
	return func() { w.Stop(); <-done }
}

// seen records the user of e and reports the name of a user whose
// sessions may have to end: one removed, disabled, given another role or
// new credentials.
func (t *team) seen(e engine.Entry) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(e.Key)
	if err != nil {
		return "", false
	}
	name := string(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	old, had := t.known[name]
	if e.Op != engine.OpPut {
		delete(t.known, name)
		return name, had
	}
	var u users.User
	if json.Unmarshal(e.Value, &u) != nil {
		return "", false
	}
	now := userState{role: u.Role, disabled: u.Disabled}
	if !u.CredentialsChanged.IsZero() {
		now.credentials = u.CredentialsChanged.UnixNano()
	}
	t.known[name] = now
	return name, had && now != old
}

// on reports whether team mode is on.
func (t *team) on() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.known) > 0 || t.sso
}

// current returns the user's state now, and whether they exist.
func (t *team) current(name string) (userState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.known[name]
	return st, ok
}

// revokeStale revokes the password sessions of user (of every user if
// user is "") that their user no longer allows: removed, disabled, of
// another role than the session was started with, or with credentials
// changed since it started; and, with user "" in team mode, the sessions
// the token started and the sockets opened with it.
func (s *Server) revokeStale(ctx context.Context, user string) {
	if user == "" && s.guard.TeamMode() {
		// Scripts' sockets opened with the bearer token have no session
		// to revoke: they are closed here, on each node.
		if n := s.sockets.closeTokenSockets(teamModeReason); n > 0 {
			s.log.Info("team mode: closing the sockets opened with the token", "sockets", n)
		}
	}
	all, err := s.sessions.List(ctx)
	if err != nil {
		s.log.Warn("team: listing sessions to end those of a changed user", "user", user, "err", err)
		return
	}
	for _, sess := range all {
		id := sess.Identity
		if id.Method == auth.MethodToken && user == "" && s.guard.TeamMode() {
			s.revoke(ctx, sess.Key, auth.Identity{}, "", teamModeReason)
			continue
		}
		if id.Method != auth.MethodPassword || user != "" && id.User != user {
			continue
		}
		st, ok := s.team.current(id.User)
		var reason string
		switch {
		case !ok:
			reason = "user removed"
		case st.disabled:
			reason = "user disabled"
		case st.role != id.Role:
			reason = "role changed to " + st.role.String()
		case st.credentials != 0 && sess.Created.UnixNano() < st.credentials:
			reason = "password or second factor changed"
		default:
			continue
		}
		s.revoke(ctx, sess.Key, auth.Identity{}, "", reason)
	}
}

// revoke ends the session with key and closes its sockets here (the
// other nodes close theirs when they see it deleted), and audits it if
// this call ended it. by is the admin who asked, none for a change of
// user; remote is their address.
func (s *Server) revoke(ctx context.Context, key string, by auth.Identity, remote, reason string) (bool, error) {
	sess, ended, err := s.sessions.Revoke(ctx, key)
	if err != nil {
		return false, err
	}
	s.endSession(key)
	if !ended {
		return false, nil
	}
	rec := audit.Record{
		Event:      audit.EventRevoke,
		Client:     "revoke " + sess.ShortKey(),
		Session:    sess.ShortKey(),
		User:       sess.Identity.User,
		Method:     sess.Identity.Method,
		Role:       roleName(sess.Identity.Role),
		Reason:     reason,
		RemoteAddr: remote,
	}
	if by.User != "" {
		rec.Reason = reason + " by " + by.User
	}
	s.writeAudit(ctx, rec)
	s.log.Info("session revoked", "session", sess.ShortKey(), "user", sess.Identity.User, "reason", rec.Reason)
	return true, nil
}

// writeAudit writes rec to the audit log, and logs a failure.
func (s *Server) writeAudit(ctx context.Context, rec audit.Record) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if rec.Node == "" {
		rec.Node = s.cfg.NodeName
	}
	if _, err := s.team.audit.Write(ctx, rec); err != nil {
		s.log.Error("audit: writing a record", "event", rec.Event, "user", rec.User, "err", err)
		return err
	}
	return nil
}

// ssoConfigured reports whether single sign-on is configured, which puts
// the console in team mode whatever the users.
func (s *Server) ssoConfigured() bool { return s.cfg.OIDC != nil }

// roleName is the role's name, or "" for none.
func roleName(r users.Role) string {
	if !r.Valid() {
		return ""
	}
	return r.String()
}

// DefaultSecretKeyFile is the name of the secret key's file in the state
// directory when Config.SecretKeyFile is empty.
const DefaultSecretKeyFile = "secret.key"

// SecretKeyPath returns the secret key file that file names ("": the
// default one in stateDir).
func SecretKeyPath(file, stateDir string) string {
	if file != "" {
		return file
	}
	return filepath.Join(stateDir, DefaultSecretKeyFile)
}

// secretKey loads the key of Config.SecretKeyFile, making it if missing.
func (s *Server) secretKey() ([]byte, error) {
	dir := s.cfg.Engine.StateDir
	if dir == "" {
		dir, _ = engine.DefaultStateDir()
	}
	if s.cfg.SecretKeyFile == "" && dir == "" {
		return nil, errors.New("server: no state directory for the secret key: give --secret-key-file or --state-dir")
	}
	path := SecretKeyPath(s.cfg.SecretKeyFile, dir)
	key, created, err := users.LoadKey(path, true)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	switch {
	case created && len(s.cfg.Engine.URLs) > 0:
		s.log.Warn("made a new secret key for second factors: give every node of this console the same file (--secret-key-file), or a second factor enrolled through one node fails on the others", "file", path)
	case created:
		s.log.Info("made a new secret key for second factors", "file", path)
	}
	return key, nil
}
