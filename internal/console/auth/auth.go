// Package auth guards the console with one secret token, as Jupyter does,
// and keeps the login sessions of browsers.
//
// A browser logs in once through a login URL, /?token=TOKEN: the token is
// exchanged for a session, and the browser is redirected to the same URL
// without the token, so none is left in the address bar or the history.
// Scripts send "Authorization: Bearer TOKEN" with every request instead.
//
// A session is a random 256-bit id, new at every login, in an HttpOnly,
// SameSite=Strict cookie (named with the __Host- prefix under TLS). The
// server keeps it in a Store (a KVStore: a key-value bucket of the engine,
// shared by every console node), by the id's SHA-256, so the store's
// contents open nothing. A session ends at logout (POST /logout, see Guard.Logout),
// when the same browser logs in again, after Options.Idle without use, or
// Options.Max after its login, whichever comes first; the cookie of a
// session that ended is refused. Options.OnEnd hears of each end the Guard
// sees, so that the server can close the session's WebSockets.
//
// In team mode (SetTeamMode: the server turns it on while there are users
// or single sign-on) the token opens nothing, nor do the sessions it
// started; people log in at LoginPath, and the server starts their
// session with StartSession, which rotates the id as the token's login
// does. A session carries its Identity (who, their role, how they logged
// in); KVStore.Revoke ends one for an admin, once across all nodes.
//
// The token is compared in constant time, session ids are looked up by
// their hash, and the package never logs a token or a session id.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// NewToken returns a random token of at least 128 bits, in base32.
func NewToken() string { return rand.Text() }

// Options configure a Guard. The zero value uses the defaults.
type Options struct {
	// CookieName names the session cookie; "" means "wsdeck". Browsers
	// send a cookie to every port of a host, so two consoles on one host
	// need different names (the server puts its port in it).
	CookieName string
	// Secure marks the cookie Secure and names it with the __Host-
	// prefix, which browsers keep to cookies set over HTTPS for the
	// whole host: set it when serving over TLS.
	Secure bool

	// Idle ends a session not used for that long; 0 means DefaultIdle.
	Idle time.Duration
	// Max ends a session that long after its login; 0 means DefaultMax.
	Max time.Duration
	// Store keeps the sessions (a KVStore); it is required.
	Store Store

	// OnLogout, if not nil, is called with the request and the session
	// of each logout (POST /logout with a live session), after the
	// session ended: the server audits it. It must not block long.
	OnLogout func(r *http.Request, s Session)

	// OnEnd, if not nil, is called with the key of each session the
	// Guard ends or finds ended: at logout, at a new login from the same
	// browser, and when its cookie is refused for expiry. It must not
	// block.
	OnEnd func(key string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Guard checks the credentials of requests and keeps the sessions. It is
// safe for concurrent use.
type Guard struct {
	tokenSum   [sha256.Size]byte // SHA-256 of the token
	cookieName string
	secure     bool
	idle, max  time.Duration
	store      Store
	onEnd      func(key string)
	onLogout   func(r *http.Request, s Session)
	now        func() time.Time

	// team is set in team mode (SetTeamMode): the token opens nothing,
	// sessions started by it are refused, and a browser without a
	// session is sent to LoginPath.
	team atomic.Bool
}

// LoginPath is the login page of team mode.
const LoginPath = "/login"

// SetTeamMode turns team mode on or off. In team mode the token is
// refused (in the login URL and as a bearer token), and so are the
// sessions it started; an HTML GET without a session is redirected to
// LoginPath. The server turns it on when there are users (or single
// sign-on) and off when there are none, at any time.
func (g *Guard) SetTeamMode(on bool) { g.team.Store(on) }

// TeamMode reports whether team mode is on.
func (g *Guard) TeamMode() bool { return g.team.Load() }

// New returns a Guard for token, which must not be empty.
func New(token string, opts Options) (*Guard, error) {
	if token == "" {
		return nil, errors.New("auth: empty token")
	}
	if opts.Store == nil {
		return nil, errors.New("auth: no session store")
	}
	if opts.Idle < 0 || opts.Max < 0 {
		return nil, errors.New("auth: negative session lifetime")
	}
	g := &Guard{
		tokenSum:   sha256.Sum256([]byte(token)),
		cookieName: opts.CookieName,
		secure:     opts.Secure,
		idle:       opts.Idle,
		max:        opts.Max,
		store:      opts.Store,
		onEnd:      opts.OnEnd,
		onLogout:   opts.OnLogout,
		now:        opts.Now,
	}
	if g.cookieName == "" {
		g.cookieName = "wsdeck"
	}
	if g.secure {
		g.cookieName = "__Host-" + g.cookieName
	}
	if g.idle == 0 {
		g.idle = DefaultIdle
	}
	if g.max == 0 {
		g.max = DefaultMax
	}
	if g.onEnd == nil {
		g.onEnd = func(string) {}
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g, nil
}

// CookieName returns the name of the session cookie.
func (g *Guard) CookieName() string { return g.cookieName }

// Max returns how long a session may last after its login.
func (g *Guard) Max() time.Duration { return g.max }

// Idle returns how long a session may go unused.
func (g *Guard) Idle() time.Duration { return g.idle }

// validToken reports whether s is the token, in constant time: both sides
// are hashed first, so not even the length is compared directly. In team
// mode no token is valid.
func (g *Guard) validToken(s string) bool {
	sum := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(sum[:], g.tokenSum[:]) == 1 && !g.team.Load()
}

// Result says how a request was authenticated, or why not.
type Result int

const (
	Missing  Result = iota // no credentials
	Invalid                // credentials that are wrong, or a session that ended
	ByBearer               // a valid Authorization: Bearer header
	ByCookie               // a valid session cookie
)

func (r Result) String() string {
	switch r {
	case Missing:
		return "missing"
	case Invalid:
		return "invalid"
	case ByBearer:
		return "bearer"
	case ByCookie:
		return "cookie"
	}
	return "unknown"
}

// OK reports whether the request was authenticated.
func (r Result) OK() bool { return r == ByBearer || r == ByCookie }

// Check authenticates r as Authenticate does, and returns only the result.
func (g *Guard) Check(r *http.Request) Result {
	res, _, _ := g.Authenticate(r)
	return res
}

// Authenticate authenticates r by its Authorization header or its session
// cookie; a request with an Authorization header is judged by it alone. A
// valid cookie counts as a use of its session, which is returned. The
// error is the store's, when it failed (the result is then Invalid).
func (g *Guard) Authenticate(r *http.Request) (Result, Session, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && g.validToken(strings.TrimSpace(cred)) {
			return ByBearer, Session{}, nil
		}
		return Invalid, Session{}, nil
	}
	c, err := r.Cookie(g.cookieName)
	if err != nil {
		return Missing, Session{}, nil
	}
	if len(c.Value) != idLen {
		return Invalid, Session{}, nil
	}
	key := keyOf(c.Value)
	s, err := g.use(r.Context(), key)
	switch {
	case errors.Is(err, ErrNoSession):
		return Invalid, Session{}, nil
	case err != nil:
		return Invalid, Session{}, err
	}
	if g.team.Load() && s.Identity.Method == MethodToken {
		// A token session from before team mode: the token opens
		// nothing now, nor does what it opened.
		g.end(r.Context(), key)
		return Invalid, Session{}, nil
	}
	return ByCookie, s, nil
}

// Touch records a use of the session with key (the server calls it for
// sessions with open sockets, which keep them alive up to Options.Max),
// and returns ErrNoSession if the session has ended.
func (g *Guard) Touch(ctx context.Context, key string) error {
	_, err := g.use(ctx, key)
	return err
}

// Sweep drops the expired sessions from the store. The server calls it
// from time to time; a session whose cookie comes back after it expired
// is refused whether or not it was swept.
func (g *Guard) Sweep(ctx context.Context) error {
	return g.store.Sweep(ctx, g.now())
}

// use looks the session with key up, ends it if it expired, and records a
// use of it otherwise.
func (g *Guard) use(ctx context.Context, key string) (Session, error) {
	s, err := g.store.Get(ctx, key)
	if err != nil {
		return Session{}, err
	}
	now := g.now()
	if !now.Before(s.Expires) {
		g.end(ctx, key)
		return Session{}, ErrNoSession
	}
	s.Seen = now
	s.Expires = g.expires(s)
	if err := g.store.Update(ctx, s); err != nil {
		return Session{}, err // ErrNoSession if it ended meanwhile
	}
	return s, nil
}

// expires returns when s ends unless used again.
func (g *Guard) expires(s Session) time.Time {
	idle, max := s.Seen.Add(g.idle), s.Created.Add(g.max)
	if idle.Before(max) {
		return idle
	}
	return max
}

// end deletes the session with key and tells OnEnd.
func (g *Guard) end(ctx context.Context, key string) error {
	err := g.store.Delete(ctx, key)
	g.onEnd(key)
	return err
}

type sessionKey struct{}

// SessionFrom returns the session of a request that Middleware let
// through with a session cookie.
func SessionFrom(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(Session)
	return s, ok
}

// Middleware returns a handler that lets authenticated requests through to
// next, their session (if any) in the context (see SessionFrom), and
// answers the others with 401 Unauthorized: for a WebSocket handshake that
// is a refused handshake, never an accepted socket.
//
// A GET or HEAD with a token query parameter is a login: a valid token
// starts a new session, sets its cookie and redirects (303) to the same
// URL without the token; a wrong one is refused. refused, if not nil, is
// told of each refusal.
func (g *Guard) Middleware(next http.Handler, refused func(r *http.Request, why Result)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("token") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			if !g.login(w, r, q) && refused != nil {
				refused(r, Invalid)
			}
			return
		}
		res, s, err := g.Authenticate(r)
		if err != nil {
			storeFailed(w)
			return
		}
		if res.OK() {
			ctx := WithIdentity(r.Context(), tokenIdentity)
			if res == ByCookie {
				ctx = WithIdentity(context.WithValue(r.Context(), sessionKey{}, s), s.Identity)
			}
			r = r.WithContext(ctx)
			next.ServeHTTP(w, r)
			return
		}
		if refused != nil {
			refused(r, res)
		}
		if g.team.Load() && r.Method == http.MethodGet && r.URL.Path == "/" && strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, LoginPath, http.StatusSeeOther)
			return
		}
		unauthorized(w, r, res, g.team.Load())
	})
}

const loginHelp = "Open the login URL that wsdeck printed when it started (http://HOST:PORT/?token=...), " +
	"or send the header Authorization: Bearer TOKEN."

const teamLoginHelp = "Log in at " + LoginPath + " with your user name and password."

func unauthorized(w http.ResponseWriter, r *http.Request, why Result, team bool) {
	help := loginHelp
	if team {
		help = teamLoginHelp
	}
	h := w.Header()
	h.Set("WWW-Authenticate", `Bearer realm="wsdeck"`)
	h.Set("Cache-Control", "no-store")
	msg := "wsdeck: no credentials. "
	if why == Invalid {
		msg = "wsdeck: wrong token, or a session that ended (logged out or expired). "
		if team {
			msg = "wsdeck: a session that ended (logged out, expired or revoked), or credentials this console does not take in team mode. "
		}
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("<!doctype html><meta charset=utf-8><title>wsdeck: log in</title>" +
			"<h1>401: log in to wsdeck</h1><p>" + msg + help + "</p>\n"))
		return
	}
	http.Error(w, msg+help, http.StatusUnauthorized)
}

func storeFailed(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "wsdeck: the session store is not answering; try again", http.StatusServiceUnavailable)
}
