package oidcop_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/e2e/oidcop"
	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/oidc"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// The provider's accounts: alice is in ops (operators), carol in
// web-admins (admins), bob in no group the console binds.
var testUsers = []oidcop.User{
	{Name: "alice", Password: "alice-pw", Email: "alice@example.com", Groups: []string{"ops", "staff"}},
	{Name: "bob", Password: "bob-pw", Email: "bob@example.com", Groups: []string{"staff"}},
	{ID: "u-carol", Name: "carol", Password: "carol-pw", Groups: []string{"web-admins"}},
}

// roleOf binds groups to roles as a policy would.
func roleOf(_ string, groups []string) (users.Role, error) {
	var r users.Role
	for _, g := range groups {
		switch g {
		case "ops":
			r = max(r, users.Operator)
		case "web-admins":
			r = max(r, users.Admin)
		}
	}
	return r, nil
}

// console is a relying party served on loopback, as the console serves
// it, with what it logged in and audited.
type console struct {
	url string
	rp  *oidc.RP

	mu       sync.Mutex
	sessions []auth.Identity
	records  []audit.Record
}

func (c *console) Write(_ context.Context, r audit.Record) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r)
	return uint64(len(c.records)), nil
}

func (c *console) lastRecord() audit.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.records) == 0 {
		return audit.Record{}
	}
	return c.records[len(c.records)-1]
}

func (c *console) started() []auth.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sessions)
}

type setup struct {
	wrap   func(http.Handler) http.Handler
	now    func() time.Time
	scopes []string
}

// start starts a provider and a console registered with it.
func start(t *testing.T, s setup) (*oidcop.Provider, *console) {
	t.Helper()
	p, err := oidcop.Start(oidcop.Options{
		Users:   testUsers,
		Clients: []oidcop.Client{{ID: "wsdeck", Secret: "wsdeck-secret", RedirectURIs: []string{"http://127.0.0.1:*/login/oidc/callback"}}},
		Wrap:    s.wrap,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := &console{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c.url = srv.URL
	c.rp, err = oidc.New(oidc.Config{
		Issuer:       p.Issuer,
		ClientID:     "wsdeck",
		ClientSecret: "wsdeck-secret",
		RedirectURL:  srv.URL + oidc.CallbackPath,
		Role:         roleOf,
		StartSession: func(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.sessions = append(c.sessions, id)
			http.SetCookie(w, &http.Cookie{Name: "session", Value: id.User, Path: "/"})
			return nil
		},
		Audit:  c,
		Logger: slog.New(slog.DiscardHandler),
		Now:    s.now,
		Scopes: s.scopes,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.rp.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET "+oidc.LoginPath, c.rp.Login())
	mux.Handle("GET "+oidc.CallbackPath, c.rp.Callback())
	return p, c
}

// browser is a cookie-keeping HTTP client that follows redirects, but
// stops before the console's callback, so a test can see (and alter) the
// URL the provider sends the browser back to.
type browser struct {
	*http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == oidc.CallbackPath {
			return http.ErrUseLastResponse
		}
		return nil
	}
	t.Cleanup(c.CloseIdleConnections)
	return &browser{c}
}

// signIn starts a login at the console, signs in at the provider's login
// page as user, and returns the URL of the console's callback that the
// provider sent the browser to, and the authorization request the console
// sent to the provider.
func (b *browser) signIn(t *testing.T, c *console, p *oidcop.Provider, user, password string) (callback *url.URL, authorize *url.URL) {
	t.Helper()
	resp, err := b.Get(c.url + oidc.LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="password"`) {
		t.Fatalf("the login at the console led to %s %d, not the provider's login page: %s", resp.Request.URL, resp.StatusCode, body)
	}
	for r := resp.Request; r != nil; r = r.Response.Request {
		if strings.HasPrefix(r.URL.String(), p.Issuer+"/authorize") {
			authorize = r.URL
		}
		if r.Response == nil {
			break
		}
	}
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, err = b.PostForm(p.Issuer+"/login/username", url.Values{"id": {id}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || loc.Path != oidc.CallbackPath {
		t.Fatalf("signing in at the provider answered %d, to %v (%v); want a redirect to the console's callback", resp.StatusCode, loc, err)
	}
	return loc, authorize
}

// get fetches u and returns its status and body.
func (b *browser) get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := b.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func wantPage(t *testing.T, status int, body string, wantStatus int, says ...string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d; want %d: %s", status, wantStatus, body)
	}
	for _, s := range says {
		if !strings.Contains(body, s) {
			t.Fatalf("the page does not say %q: %s", s, body)
		}
	}
}

// TestLogin: a user of the provider logs in to the console through the
// authorization code flow with PKCE (S256), a state and a nonce; the
// session is started for the user's preferred name with the role of
// their groups, and the login is audited.
func TestLogin(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{})
	b := newBrowser(t)
	cb, authz := b.signIn(t, c, p, "alice", "alice-pw")
	q := authz.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 43 || len(q.Get("nonce")) < 43 {
		t.Fatalf("the authorization request %s lacks PKCE S256, a 256-bit state or nonce", authz)
	}
	if scopes := q.Get("scope"); scopes != "openid profile email groups" {
		t.Fatalf("scopes %q", scopes)
	}
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusOK, "Signed in as alice", `http-equiv="refresh"`)
	got := c.started()
	want := auth.Identity{User: "alice", Role: users.Operator, Method: auth.MethodOIDC, Groups: []string{"ops", "staff"}}
	if len(got) != 1 || got[0].User != want.User || got[0].Role != want.Role || got[0].Method != want.Method || !slices.Equal(got[0].Groups, want.Groups) {
		t.Fatalf("sessions started %+v; want one for %+v", got, want)
	}
	if r := c.lastRecord(); r.Event != audit.EventLogin || r.User != "alice" || r.Method != "oidc" || r.Role != "operator" {
		t.Fatalf("audit record %+v; want alice's login by oidc as operator", r)
	}
}

// TestGroupsMapToRoles: the role comes from the groups claim; a user with
// no bound group is refused with a page that says so, and audited.
func TestGroupsMapToRoles(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{})
	for _, tc := range []struct {
		user, password string
		role           users.Role
	}{
		{"carol", "carol-pw", users.Admin},
		{"alice", "alice-pw", users.Operator},
		{"bob", "bob-pw", 0},
	} {
		t.Run(tc.user, func(t *testing.T) {
			b := newBrowser(t)
			cb, _ := b.signIn(t, c, p, tc.user, tc.password)
			status, body := b.get(t, cb.String())
			if tc.role == 0 {
				wantPage(t, status, body, http.StatusForbidden, "signed in at the identity provider as bob", "gives you no role", "staff")
				if r := c.lastRecord(); r.Event != audit.EventLoginFailed || r.User != "bob" || !strings.Contains(r.Reason, "no role") {
					t.Fatalf("audit record %+v; want bob's failed login for no role", r)
				}
				for _, id := range c.started() {
					if id.User == "bob" {
						t.Fatal("bob got a session")
					}
				}
				return
			}
			wantPage(t, status, body, http.StatusOK, "Signed in as "+tc.user)
			ids := c.started()
			if last := ids[len(ids)-1]; last.User != tc.user || last.Role != tc.role {
				t.Fatalf("session %+v; want %s as %s", last, tc.user, tc.role)
			}
		})
	}
}

// TestNameFromVerifiedEmail: without the profile scope the provider sends
// no preferred_username, and the user is named by their verified e-mail.
func TestNameFromVerifiedEmail(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{scopes: []string{"openid", "email", "groups"}})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "alice", "alice-pw")
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusOK, "Signed in as alice@example.com")
	if ids := c.started(); len(ids) != 1 || ids[0].User != "alice@example.com" || ids[0].Role != users.Operator {
		t.Fatalf("sessions %+v; want alice@example.com as operator", ids)
	}
}

// TestWrongState: a callback whose state is not the one of the flow in
// this browser is refused, and so is a callback in a browser that began no
// flow (a login forced on someone else: login CSRF).
func TestWrongState(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "alice", "alice-pw")
	forged := *cb
	q := forged.Query()
	q.Set("state", "not-the-state")
	forged.RawQuery = q.Encode()
	status, body := b.get(t, forged.String())
	wantPage(t, status, body, http.StatusBadRequest, "state does not match")

	b2 := newBrowser(t)
	cb2, _ := b2.signIn(t, c, p, "alice", "alice-pw")
	victim := newBrowser(t)
	status, body = victim.get(t, cb2.String())
	wantPage(t, status, body, http.StatusBadRequest, "No single sign-on was started in this browser")
	if n := len(c.started()); n != 0 {
		t.Fatalf("%d sessions started; want none", n)
	}
}

// TestReplayedCode: a callback replayed with the flow cookie of its
// browser (say, from its history and a saved cookie) is refused: the
// provider takes a code once.
func TestReplayedCode(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "alice", "alice-pw")
	cookieURL, _ := url.Parse(c.url + oidc.CallbackPath)
	flowCookies := b.Jar.Cookies(cookieURL)
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusOK, "Signed in as alice")
	if left := b.Jar.Cookies(cookieURL); len(left) != 1 || left[0].Name != "session" {
		t.Fatalf("cookies left for the callback %v; want the flow cookie gone", left)
	}
	b.Jar.SetCookies(cookieURL, flowCookies)
	status, body = b.get(t, cb.String())
	wantPage(t, status, body, http.StatusUnauthorized, "refused the code", "invalid_grant")
	if n := len(c.started()); n != 1 {
		t.Fatalf("%d sessions started; want the first only", n)
	}
}

// TestBadNonce: an ID token issued for another nonce than the flow's (an
// authorization request altered on its way to the provider) is refused.
func TestBadNonce(t *testing.T) {
	t.Parallel()
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/authorize" {
				q := r.URL.Query()
				q.Set("nonce", "an-attackers-nonce")
				r.URL.RawQuery = q.Encode()
			}
			next.ServeHTTP(w, r)
		})
	}
	p, c := start(t, setup{wrap: wrap})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "alice", "alice-pw")
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusUnauthorized, "nonce does not match")
	if r := c.lastRecord(); r.Event != audit.EventLoginFailed || !strings.Contains(r.Reason, "nonce") {
		t.Fatalf("audit record %+v; want a failed login for the nonce", r)
	}
}

// rewriteToken returns a wrapper of the provider that passes the token
// endpoint's answer through edit (the ID token's payload, decoded).
func rewriteToken(edit func(claims map[string]any)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/oauth/token" {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var tok map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &tok); err == nil {
				if raw, ok := tok["id_token"].(string); ok {
					parts := strings.Split(raw, ".")
					payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
					var claims map[string]any
					json.Unmarshal(payload, &claims)
					edit(claims)
					payload, _ = json.Marshal(claims)
					parts[1] = base64.RawURLEncoding.EncodeToString(payload)
					tok["id_token"] = strings.Join(parts, ".")
				}
			}
			out, _ := json.Marshal(tok)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			io.Copy(w, bytes.NewReader(out))
		})
	}
}

// TestForgedToken: an ID token whose claims were changed after the
// provider signed it (a user made admin's name) does not verify.
func TestForgedToken(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{wrap: rewriteToken(func(claims map[string]any) {
		claims["preferred_username"] = "carol"
		claims["groups"] = []string{"web-admins"}
	})})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "bob", "bob-pw")
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusUnauthorized, "does not verify", "signature")
	if n := len(c.started()); n != 0 {
		t.Fatalf("%d sessions started; want none", n)
	}
}

// TestExpiredToken: an ID token is refused once it has expired (the
// console's clock is two hours ahead: the provider's tokens last one).
func TestExpiredToken(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "alice", "alice-pw")
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusUnauthorized, "does not verify", "expired")
}

// TestWrongAudience: an ID token for another client of the same provider
// is refused.
func TestWrongAudience(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{wrap: rewriteToken(func(claims map[string]any) { claims["aud"] = []string{"another-client"} })})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "alice", "alice-pw")
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusUnauthorized, "does not verify")
}

// TestProviderError: an error the provider sends back to the callback
// (here invalid_request, for an authorization request made contradictory
// on its way) is shown to the person with its description, and audited.
func TestProviderError(t *testing.T) {
	t.Parallel()
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/authorize" {
				q := r.URL.Query()
				q.Set("prompt", "none login")
				r.URL.RawQuery = q.Encode()
			}
			next.ServeHTTP(w, r)
		})
	}
	_, c := start(t, setup{wrap: wrap})
	b := newBrowser(t)
	resp, err := b.Get(c.url + oidc.LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("error") == "" {
		t.Fatalf("the provider answered %d %v; want a redirect to the callback with an error", resp.StatusCode, loc)
	}
	status, body := b.get(t, loc.String())
	wantPage(t, status, body, http.StatusUnauthorized, "The identity provider refused the login: invalid_request", "prompt")
	if r := c.lastRecord(); r.Event != audit.EventLoginFailed || r.Method != "oidc" || !strings.Contains(r.Reason, "invalid_request") {
		t.Fatalf("audit record %+v; want a failed login by oidc naming invalid_request", r)
	}
}

// TestPKCEVerifierChecked: a token request whose code_verifier was
// altered is refused by the provider, and so the login.
func TestPKCEVerifierChecked(t *testing.T) {
	t.Parallel()
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/token" {
				r.ParseForm()
				r.PostForm.Set("code_verifier", strings.Repeat("x", 43))
				body := r.PostForm.Encode()
				r.Body = io.NopCloser(strings.NewReader(body))
				r.ContentLength = int64(len(body))
				r.Form, r.PostForm = nil, nil
			}
			next.ServeHTTP(w, r)
		})
	}
	p, c := start(t, setup{wrap: wrap})
	b := newBrowser(t)
	cb, _ := b.signIn(t, c, p, "alice", "alice-pw")
	status, body := b.get(t, cb.String())
	wantPage(t, status, body, http.StatusUnauthorized, "refused the code")
}

// TestWrongPassword: the provider's own login page refuses a wrong
// password and the browser stays there.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	p, c := start(t, setup{})
	b := newBrowser(t)
	resp, err := b.Get(c.url + oidc.LoginPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, err = b.PostForm(p.Issuer+"/login/username", url.Values{"id": {id}, "username": {"alice"}, "password": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantPage(t, resp.StatusCode, string(body), http.StatusUnauthorized, "Wrong user name or password")
}
