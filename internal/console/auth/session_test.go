package auth

import (
	"context"
	"errors"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ended records the keys OnEnd is told of.
type ended struct {
	mu   sync.Mutex
	keys []string
}

func (e *ended) OnEnd(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys = append(e.keys, key)
}

func (e *ended) has(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range e.keys {
		if k == key {
			return true
		}
	}
	return false
}

// check runs a request with cookie (nil: none) through g.
func check(g *Guard, cookie *http.Cookie) Result {
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return g.Check(req)
}

func TestEachLoginGetsANewSession(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{})
	h := g.Middleware(ok, nil)
	a, b := login(t, h), login(t, h)
	if a.Value == b.Value {
		t.Fatalf("two logins got the same session cookie %q", a.Value)
	}
	if len(a.Value) != 43 { // 256 bits in base64url
		t.Errorf("session id %q: want 256 bits (43 base64url characters)", a.Value)
	}
	for _, c := range []*http.Cookie{a, b} {
		if got := check(g, c); got != ByCookie {
			t.Errorf("cookie of a login: %v, want cookie", got)
		}
	}
	// A restart (another Guard, same token) knows neither.
	if got := check(newGuard(t, Options{}), a); got != Invalid {
		t.Errorf("a session of the console before a restart: %v, want invalid", got)
	}
}

func TestLoginRotatesTheBrowsersSession(t *testing.T) {
	t.Parallel()
	var e ended
	g := newGuard(t, Options{OnEnd: e.OnEnd})
	h := g.Middleware(ok, nil)
	old := login(t, h)
	// The same browser logs in again: it sends the cookie it has.
	req := httptest.NewRequest("GET", "/?token="+token, nil)
	req.AddCookie(old)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fresh := rec.Result().Cookies()[0]
	if fresh.Value == old.Value {
		t.Fatal("a login kept the session id the browser had")
	}
	if got := check(g, old); got != Invalid {
		t.Errorf("the replaced session: %v, want invalid", got)
	}
	if got := check(g, fresh); got != ByCookie {
		t.Errorf("the new session: %v, want cookie", got)
	}
	if !e.has(keyOf(old.Value)) {
		t.Error("OnEnd was not told of the replaced session")
	}
}

func logoutRequest(cookie *http.Cookie, header map[string]string) *http.Request {
	req := httptest.NewRequest("POST", "http://127.0.0.1:8080/logout", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

func TestLogout(t *testing.T) {
	t.Parallel()
	var e ended
	g := newGuard(t, Options{CookieName: "wsdeck-8080", OnEnd: e.OnEnd})
	c := login(t, g.Middleware(ok, nil))
	rec := httptest.NewRecorder()
	// As a browser sends it from the console's page.
	g.Logout().ServeHTTP(rec, logoutRequest(c, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"}))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s, want 204", rec.Code, rec.Body)
	}
	cleared := rec.Result().Cookies()
	if len(cleared) != 1 || cleared[0].Name != "wsdeck-8080" || cleared[0].MaxAge >= 0 || cleared[0].Value != "" {
		t.Errorf("logout set cookies %v, want the session cookie removed", cleared)
	}
	if got := check(g, c); got != Invalid {
		t.Errorf("the logged-out cookie: %v, want invalid", got)
	}
	if !e.has(keyOf(c.Value)) {
		t.Error("OnEnd was not told of the logout")
	}
	// Again, and with no cookie at all: nothing to end, still 204.
	for _, cookie := range []*http.Cookie{c, nil} {
		rec = httptest.NewRecorder()
		g.Logout().ServeHTTP(rec, logoutRequest(cookie, nil))
		if rec.Code != http.StatusNoContent {
			t.Errorf("logout with cookie %v: %d, want 204", cookie, rec.Code)
		}
	}
}

// A page of another origin, another port of the same host included (it
// gets the host's SameSite=Strict cookies), cannot log the user out.
func TestLogoutRefusesCrossOrigin(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{})
	c := login(t, g.Middleware(ok, nil))
	for _, tt := range []struct {
		name   string
		header map[string]string
	}{
		{"same site, other port", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:3000"}},
		{"cross site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}},
		{"origin only, other port", map[string]string{"Origin": "http://127.0.0.1:3000"}},
	} {
		rec := httptest.NewRecorder()
		g.Logout().ServeHTTP(rec, logoutRequest(c, tt.header))
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "another origin") {
			t.Errorf("%s: %d %q, want 403 saying why", tt.name, rec.Code, rec.Body)
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Errorf("%s: a refused logout touched the cookie", tt.name)
		}
	}
	if got := check(g, c); got != ByCookie {
		t.Errorf("after refused logouts the session is %v, want still valid", got)
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	var e ended
	g := newGuard(t, Options{Idle: time.Hour, Max: 10 * time.Hour, Now: clk.Now, OnEnd: e.OnEnd})
	c := login(t, g.Middleware(ok, nil))
	// Each use keeps it alive another hour.
	for range 5 {
		clk.Add(59 * time.Minute)
		if got := check(g, c); got != ByCookie {
			t.Fatalf("used every 59 minutes with an idle limit of 1h: %v", got)
		}
	}
	clk.Add(time.Hour)
	if got := check(g, c); got != Invalid {
		t.Fatalf("an hour unused: %v, want invalid", got)
	}
	if !e.has(keyOf(c.Value)) {
		t.Error("OnEnd was not told of the expiry")
	}
	// It stays refused (it was dropped, not merely found old).
	clk.Add(-time.Hour)
	if got := check(g, c); got != Invalid {
		t.Errorf("the expired cookie, with the clock set back: %v, want invalid", got)
	}
}

func TestSessionAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock()
	g := newGuard(t, Options{Idle: time.Hour, Max: 3 * time.Hour, Now: clk.Now})
	c := login(t, g.Middleware(ok, nil))
	key := keyOf(c.Value)
	used := time.Duration(0)
	for used+30*time.Minute < 3*time.Hour {
		clk.Add(30 * time.Minute)
		used += 30 * time.Minute
		if got := check(g, c); got != ByCookie {
			t.Fatalf("after %v of use: %v, want still valid", used, got)
		}
		if err := g.Touch(context.Background(), key); err != nil {
			t.Fatalf("Touch after %v: %v", used, err)
		}
	}
	clk.Add(30 * time.Minute) // 3h after the login, however busy
	if got := check(g, c); got != Invalid {
		t.Errorf("3h after login with Max 3h: %v, want invalid", got)
	}
	if err := g.Touch(context.Background(), key); !errors.Is(err, ErrNoSession) {
		t.Errorf("Touch of the ended session: %v, want ErrNoSession", err)
	}
}

func TestSweepDropsExpiredSessions(t *testing.T) {
	t.Parallel()
	clk := newClock()
	store := newStore(t, 0)
	g := newGuard(t, Options{Idle: time.Hour, Now: clk.Now, Store: store})
	h := g.Middleware(ok, nil)
	login(t, h)
	clk.Add(30 * time.Minute)
	fresh := login(t, h)
	clk.Add(40 * time.Minute) // the first is 70 minutes old, the second 40
	if err := g.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := storeLen(t, store); n != 1 {
		t.Errorf("%d sessions after the sweep, want 1", n)
	}
	if got := check(g, fresh); got != ByCookie {
		t.Errorf("the live session after a sweep: %v", got)
	}
}

func TestStoreIsBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	store := newStore(t, 3)
	g := newGuard(t, Options{Now: clk.Now, Store: store})
	h := g.Middleware(ok, nil)
	var cookies []*http.Cookie
	for range 3 {
		clk.Add(time.Minute)
		cookies = append(cookies, login(t, h))
	}
	// The first is used again, so the second is now the least recently used.
	clk.Add(time.Minute)
	check(g, cookies[0])
	clk.Add(time.Minute)
	cookies = append(cookies, login(t, h))
	if n := storeLen(t, store); n != 3 {
		t.Fatalf("%d sessions in a store of 3", n)
	}
	for i, want := range []Result{ByCookie, Invalid, ByCookie, ByCookie} {
		if got := check(g, cookies[i]); got != want {
			t.Errorf("session %d: %v, want %v", i, got, want)
		}
	}
	// Many logins later, still 3.
	for range 100 {
		login(t, h)
	}
	if n := storeLen(t, store); n != 3 {
		t.Errorf("%d sessions after 100 more logins, want 3", n)
	}
}

func TestCookieUnderTLSHasHostPrefix(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{CookieName: "wsdeck-8443", Secure: true})
	c := login(t, g.Middleware(ok, nil))
	if c.Name != "__Host-wsdeck-8443" || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v: want __Host-wsdeck-8443, Secure, Path=/, no Domain, HttpOnly, SameSite=Strict", c)
	}
	if got := check(g, c); got != ByCookie {
		t.Errorf("the __Host- cookie: %v", got)
	}
}

func TestMiddlewarePassesTheSession(t *testing.T) {
	t.Parallel()
	var got []string
	g := newGuard(t, Options{})
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := SessionFrom(r.Context())
		got = append(got, map[bool]string{true: s.Key, false: "none"}[ok])
	}), nil)
	c := login(t, h)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c)
	h.ServeHTTP(httptest.NewRecorder(), req)
	req = httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if len(got) != 2 || got[0] != keyOf(c.Value) || got[1] != "none" {
		t.Errorf("sessions seen %q, want [the cookie's key, none]", got)
	}
	if strings.Contains(got[0], c.Value) {
		t.Error("the session key holds the id")
	}
}

// failingStore fails every call, as an unreachable shared store would.
type failingStore struct{}

var errDown = errors.New("store down")

func (failingStore) Add(context.Context, Session) error           { return errDown }
func (failingStore) Get(context.Context, string) (Session, error) { return Session{}, errDown }
func (failingStore) Update(context.Context, Session) error        { return errDown }
func (failingStore) Delete(context.Context, string) error         { return errDown }
func (failingStore) Sweep(context.Context, time.Time) error       { return errDown }

func TestStoreFailureIsNotALogin(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{Store: failingStore{}})
	h := g.Middleware(ok, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?token="+token, nil))
	if rec.Code != http.StatusServiceUnavailable || len(rec.Result().Cookies()) != 0 {
		t.Errorf("login with the store down: %d, cookies %v; want 503 and none", rec.Code, rec.Result().Cookies())
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "wsdeck", Value: newID()})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a cookie with the store down: %d, want 503", rec.Code)
	}
	// Bearer needs no store.
	req = httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("bearer with the store down: %d, want 200", rec.Code)
	}
}

// TestTokenModeIdentity: in token mode, a bearer request and a session the
// token started are both the admin, by the token; the identity comes back
// from the store (another node reads it there).
func TestTokenModeIdentity(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{})
	var got []Identity
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := IdentityFrom(r.Context())
		if !ok {
			t.Error("no identity in the request's context")
		}
		got = append(got, id)
	}), nil)

	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(httptest.NewRecorder(), req)

	cookie := login(t, h)
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookie)
	h.ServeHTTP(httptest.NewRecorder(), req)

	want := Identity{User: TokenUser, Role: users.Admin, Method: MethodToken}
	if len(got) != 2 {
		t.Fatalf("handler ran %d times, want 2", len(got))
	}
	for i, id := range got {
		if id.User != want.User || id.Role != want.Role || id.Method != want.Method {
			t.Errorf("request %d: identity %+v, want %+v", i, id, want)
		}
	}
	s, err := g.store.Get(t.Context(), keyOf(cookie.Value))
	if err != nil {
		t.Fatal(err)
	}
	if s.Identity.User != TokenUser || s.Identity.Role != users.Admin {
		t.Errorf("stored session's identity %+v, want the token's admin", s.Identity)
	}
}
