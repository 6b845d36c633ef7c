// Package auth guards the console with one secret token, as Jupyter does.
//
// A browser logs in once through a login URL, /?token=TOKEN: the token is
// exchanged for an HttpOnly, SameSite=Strict session cookie and the browser
// is redirected to the same URL without the token, so none is left in the
// address bar or the history. Scripts send "Authorization: Bearer TOKEN".
// Every comparison is constant-time, and the package never logs a token.
//
// The session cookie holds an HMAC of the token, not the token itself: a
// stolen cookie opens the console (as the token does) but does not reveal
// the token.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// NewToken returns a random token of at least 128 bits, in base32.
func NewToken() string { return rand.Text() }

// Options configure a Guard. The zero value uses the defaults.
type Options struct {
	// CookieName names the session cookie; "" means "wsdeck". Browsers
	// send a cookie to every port of a host, so two consoles on one host
	// need different names (the server puts its port in it).
	CookieName string
	// Secure marks the cookie Secure: set it when serving over TLS.
	Secure bool
}

// Guard checks the credentials of requests. It is safe for concurrent use.
type Guard struct {
	tokenSum   [sha256.Size]byte // SHA-256 of the token
	session    string            // the session cookie's value
	cookieName string
	secure     bool
}

// New returns a Guard for token, which must not be empty.
func New(token string, opts Options) (*Guard, error) {
	if token == "" {
		return nil, errors.New("auth: empty token")
	}
	g := &Guard{
		tokenSum:   sha256.Sum256([]byte(token)),
		cookieName: opts.CookieName,
		secure:     opts.Secure,
	}
	if g.cookieName == "" {
		g.cookieName = "wsdeck"
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("wsdeck session cookie v1"))
	g.session = base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	return g, nil
}

// CookieName returns the name of the session cookie.
func (g *Guard) CookieName() string { return g.cookieName }

// validToken reports whether s is the token, in constant time: both sides
// are hashed first, so not even the length is compared directly.
func (g *Guard) validToken(s string) bool {
	sum := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(sum[:], g.tokenSum[:]) == 1
}

func (g *Guard) validSession(s string) bool {
	return subtle.ConstantTimeCompare([]byte(s), []byte(g.session)) == 1
}

// Result says how a request was authenticated, or why not.
type Result int

const (
	Missing  Result = iota // no credentials
	Invalid                // credentials that are wrong
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

// Check authenticates r by its Authorization header or session cookie. A
// request with an Authorization header is judged by it alone.
func (g *Guard) Check(r *http.Request) Result {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && g.validToken(strings.TrimSpace(cred)) {
			return ByBearer
		}
		return Invalid
	}
	c, err := r.Cookie(g.cookieName)
	if err != nil {
		return Missing
	}
	if g.validSession(c.Value) {
		return ByCookie
	}
	return Invalid
}

// Middleware returns a handler that lets authenticated requests through to
// next and answers the others with 401 Unauthorized: for a WebSocket
// handshake that is a refused handshake, never an accepted socket.
//
// A GET or HEAD with a token query parameter is a login: a valid token sets
// the session cookie and redirects (303) to the same URL without it; a wrong
// one is refused. refused, if not nil, is told of each refusal.
func (g *Guard) Middleware(next http.Handler, refused func(r *http.Request, why Result)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("token") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			if !g.login(w, r, q) && refused != nil {
				refused(r, Invalid)
			}
			return
		}
		res := g.Check(r)
		if res.OK() {
			next.ServeHTTP(w, r)
			return
		}
		if refused != nil {
			refused(r, res)
		}
		unauthorized(w, r, res)
	})
}

// login exchanges the token in the query for the session cookie, and
// reports whether the token was valid.
func (g *Guard) login(w http.ResponseWriter, r *http.Request, q url.Values) bool {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if !g.validToken(q.Get("token")) {
		unauthorized(w, r, Invalid)
		return false
	}
	http.SetCookie(w, &http.Cookie{
		Name:     g.cookieName,
		Value:    g.session,
		Path:     "/",
		HttpOnly: true,
		Secure:   g.secure,
		SameSite: http.SameSiteStrictMode,
	})
	q.Del("token")
	clean := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	if clean.Path == "" {
		clean.Path = "/"
	}
	http.Redirect(w, r, clean.RequestURI(), http.StatusSeeOther)
	return true
}

const loginHelp = "Open the login URL that wsdeck printed when it started (http://HOST:PORT/?token=...), " +
	"or send the header Authorization: Bearer TOKEN."

func unauthorized(w http.ResponseWriter, r *http.Request, why Result) {
	h := w.Header()
	h.Set("WWW-Authenticate", `Bearer realm="wsdeck"`)
	h.Set("Cache-Control", "no-store")
	msg := "wsdeck: no credentials. "
	if why == Invalid {
		msg = "wsdeck: wrong token or session. "
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("<!doctype html><meta charset=utf-8><title>wsdeck: log in</title>" +
			"<h1>401: log in to wsdeck</h1><p>" + msg + loginHelp + "</p>\n"))
		return
	}
	http.Error(w, msg+loginHelp, http.StatusUnauthorized)
}
