package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const token = "s3cret-token-for-tests-0123456789"

func newGuard(t *testing.T, opts Options) *Guard {
	t.Helper()
	if opts.Store == nil {
		opts.Store = newStore(t, 0)
	}
	g, err := New(token, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// ok is the protected handler: it answers 200 "in".
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("in")) })

// login runs the login exchange and returns the session cookie.
func login(t *testing.T, h http.Handler) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?token="+token, nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login: status %d, want 303", rec.Code)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies, want 1", len(cookies))
	}
	return cookies[0]
}

func TestLoginSetsSessionCookieAndRedirectsToCleanURL(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{CookieName: "wsdeck-8080"})
	h := g.Middleware(ok, nil)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/some/page?tab=monitor&token="+token, nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", rec.Code)
	}
	if loc := rec.Header().Get("Location"); loc != "/some/page?tab=monitor" {
		t.Errorf("redirect to %q, want the same URL without the token", loc)
	}
	if strings.Contains(rec.Body.String(), token) {
		t.Error("the response body holds the token")
	}
	c := rec.Result().Cookies()[0]
	if c.Name != "wsdeck-8080" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie %+v: want wsdeck-8080, HttpOnly, SameSite=Strict, Path=/, not Secure without TLS", c)
	}
	if c.Value == token || strings.Contains(c.Value, token) {
		t.Error("the cookie holds the token itself")
	}
	if c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("cookie with Max-Age %d, Expires %v: want a session cookie", c.MaxAge, c.Expires)
	}

	// The cookie opens the console.
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "in" {
		t.Errorf("with the session cookie: %d %q, want 200 in", rec.Code, rec.Body)
	}
}

func TestLoginCookieIsSecureUnderTLS(t *testing.T) {
	t.Parallel()
	c := login(t, newGuard(t, Options{Secure: true}).Middleware(ok, nil))
	if !c.Secure {
		t.Error("cookie is not Secure")
	}
}

func TestLoginWithWrongTokenIsRefused(t *testing.T) {
	t.Parallel()
	var refusals []Result
	h := newGuard(t, Options{}).Middleware(ok, func(r *http.Request, why Result) { refusals = append(refusals, why) })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?token=wrong", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", rec.Code)
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Error("a wrong token got a cookie")
	}
	if len(refusals) != 1 || refusals[0] != Invalid {
		t.Errorf("refusals %v, want [invalid]", refusals)
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{})
	session := login(t, g.Middleware(ok, nil))
	badSession := &http.Cookie{Name: session.Name, Value: session.Value[:len(session.Value)-1] + "x"}
	tests := []struct {
		name   string
		header string       // Authorization
		cookie *http.Cookie // nil: none
		method string       // "" means GET
		target string       // "" means /
		want   Result
	}{
		{name: "none", want: Missing},
		{name: "bearer", header: "Bearer " + token, want: ByBearer},
		{name: "bearer lower case", header: "bearer " + token, want: ByBearer},
		{name: "bearer wrong", header: "Bearer " + token + "x", want: Invalid},
		{name: "bearer prefix of token", header: "Bearer " + token[:10], want: Invalid},
		{name: "bearer empty", header: "Bearer ", want: Invalid},
		{name: "basic scheme", header: "Basic " + token, want: Invalid},
		{name: "cookie", cookie: session, want: ByCookie},
		{name: "cookie wrong", cookie: badSession, want: Invalid},
		{name: "cookie of another console", cookie: &http.Cookie{Name: "wsdeck-9999", Value: session.Value}, want: Missing},
		{name: "token as cookie value", cookie: &http.Cookie{Name: session.Name, Value: token}, want: Invalid},
		// An Authorization header is judged alone: a wrong one is not
		// rescued by a good cookie.
		{name: "wrong bearer with good cookie", header: "Bearer nope", cookie: session, want: Invalid},
		// Only a GET or HEAD logs in: a token in the query of a POST is
		// no credential.
		{name: "token in POST query", method: "POST", target: "/?token=" + token, want: Missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, target := tt.method, tt.target
			if method == "" {
				method = "GET"
			}
			if target == "" {
				target = "/"
			}
			req := httptest.NewRequest(method, target, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != nil {
				req.AddCookie(tt.cookie)
			}
			if got := g.Check(req); got != tt.want {
				t.Errorf("Check = %v, want %v", got, tt.want)
			}
			var refused []Result
			rec := httptest.NewRecorder()
			g.Middleware(ok, func(r *http.Request, why Result) { refused = append(refused, why) }).ServeHTTP(rec, req)
			if tt.want.OK() {
				if rec.Code != http.StatusOK || len(refused) != 0 {
					t.Errorf("middleware: %d, refusals %v; want 200 and none", rec.Code, refused)
				}
				return
			}
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("middleware: %d, want 401", rec.Code)
			}
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer", got)
			}
			if len(refused) != 1 || refused[0] != tt.want {
				t.Errorf("refusals %v, want [%v]", refused, tt.want)
			}
		})
	}
}

func TestUnauthorizedPageForBrowsers(t *testing.T) {
	t.Parallel()
	h := newGuard(t, Options{}).Middleware(ok, nil)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s, want 401 text/html", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !strings.Contains(rec.Body.String(), "login URL") {
		t.Errorf("the page does not say how to log in: %s", rec.Body)
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	a, b := NewToken(), NewToken()
	if a == b {
		t.Fatal("two tokens are equal")
	}
	if len(a) < 26 { // 128 bits in base32
		t.Errorf("token %q is shorter than 128 bits of base32", a)
	}
	if _, err := New("", Options{Store: newStore(t, 0)}); err == nil {
		t.Error("New accepted an empty token")
	}
	if _, err := New(token, Options{}); err == nil {
		t.Error("New accepted no session store")
	}
}

// A session lives in the Guard that made it: another console (another
// Guard, even with the same token) refuses its cookie.
func TestSessionOfAnotherGuardIsRefused(t *testing.T) {
	t.Parallel()
	g1, g2 := newGuard(t, Options{}), newGuard(t, Options{})
	c := login(t, g1.Middleware(ok, nil))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c)
	if got := g2.Check(req); got != Invalid {
		t.Errorf("another guard's session cookie: %v, want invalid", got)
	}
}
