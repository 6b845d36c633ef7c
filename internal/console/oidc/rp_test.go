package oidc

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// records is an Auditor that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (a *records) Write(_ context.Context, r audit.Record) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
	return uint64(len(a.recs)), nil
}

func (a *records) all() []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Record(nil), a.recs...)
}

func testConfig(issuer string) Config {
	return Config{
		Issuer:       issuer,
		ClientID:     "wsdeck",
		ClientSecret: "secret",
		RedirectURL:  "http://127.0.0.1:1/login/oidc/callback",
		Role:         func(string, []string) (users.Role, error) { return users.Viewer, nil },
		StartSession: func(http.ResponseWriter, *http.Request, auth.Identity) error { return nil },
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no issuer":       {func(c *Config) { c.Issuer = "" }, "--oidc-issuer"},
		"issuer not URL":  {func(c *Config) { c.Issuer = "accounts.example.com" }, "not an http(s) URL"},
		"no client id":    {func(c *Config) { c.ClientID = "" }, "--oidc-client-id"},
		"relative redir":  {func(c *Config) { c.RedirectURL = "/login/oidc/callback" }, "not an absolute"},
		"no role func":    {func(c *Config) { c.Role = nil }, "no role function"},
		"short key":       {func(c *Config) { c.Key = []byte("short") }, "at least 16"},
		"negative groups": {func(c *Config) { c.MaxGroups = -1 }, "negative"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig("https://idp.example.com")
			tc.edit(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want an error saying %q", err, tc.want)
			}
		})
	}
	rp, err := New(testConfig("https://idp.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if rp.cfg.Scopes[0] != "openid" || rp.cfg.GroupsClaim != "groups" || rp.cfg.MaxGroups != DefaultMaxGroups {
		t.Fatalf("defaults not applied: %+v", rp.cfg)
	}
	cfg := testConfig("https://idp.example.com")
	cfg.Scopes = []string{"email"}
	rp, _ = New(cfg)
	if strings.Join(rp.cfg.Scopes, " ") != "openid email" {
		t.Fatalf("scopes = %q; want openid added", rp.cfg.Scopes)
	}
}

// TestDiscoveryRetriedLazily: a provider that fails discovery is named in
// the error and on the login page, and asked again only after
// RetryInterval, so a console whose provider is down neither hangs nor
// hammers it.
func TestDiscoveryRetriedLazily(t *testing.T) {
	t.Parallel()
	var asked atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer idp.Close()
	now := time.Unix(1_800_000_000, 0)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	cfg := testConfig(idp.URL)
	cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	cfg.RetryInterval = time.Minute
	rp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = rp.Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), idp.URL) || !strings.Contains(err.Error(), "down for maintenance") {
		t.Fatalf("Discover = %v; want an error naming %s and the cause", err, idp.URL)
	}
	login := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		rp.Login().ServeHTTP(rec, httptest.NewRequest("GET", LoginPath, nil))
		return rec
	}
	rec := login()
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), idp.URL) {
		t.Fatalf("Login while down = %d %q; want 502 naming the issuer", rec.Code, rec.Body)
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the provider was asked %d times within the retry interval; want once", n)
	}
	clock.Add(int64(time.Minute))
	login()
	if n := asked.Load(); n != 2 {
		t.Fatalf("the provider was asked %d times after the retry interval; want twice", n)
	}
}

// TestDiscoveryUnreachableIsBounded: a provider that accepts and never
// answers fails discovery within DiscoveryTimeout.
func TestDiscoveryUnreachableIsBounded(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	issuer := "http://" + ln.Addr().String()
	cfg := testConfig(issuer)
	cfg.DiscoveryTimeout = 200 * time.Millisecond
	rp, _ := New(cfg)
	start := time.Now()
	err = rp.Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), issuer) {
		t.Fatalf("Discover = %v; want an error naming %s", err, issuer)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Discover took %v; want about the 200ms timeout", d)
	}
}

func callback(t *testing.T, rp *RP, query string, cookie *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", CallbackPath+"?"+query, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	rp.Callback().ServeHTTP(rec, req)
	return rec
}

// TestCallbackRefusals: the refusals that need no provider are shown
// with their reason, audited as failed logins by OIDC, and end the flow
// (the flow cookie is deleted).
func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	cfg := testConfig("http://127.0.0.1:1")
	var recs records
	cfg.Audit = &recs
	rp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := flow{State: random(), Nonce: random(), Verifier: "v", Expires: time.Now().Add(time.Minute)}
	sealed, _ := rp.seal.seal(f)
	flowCookie := &http.Cookie{Name: "wsdeck-oidc", Value: sealed}
	for _, tc := range []struct {
		name   string
		query  string
		cookie *http.Cookie
		status int
		page   []string
		reason string
	}{
		{"provider error", "error=access_denied&error_description=the+user+said+no&state=" + f.State, flowCookie,
			http.StatusUnauthorized, []string{"access_denied", "the user said no"}, "access_denied"},
		{"no flow cookie", "code=c&state=" + f.State, nil,
			http.StatusBadRequest, []string{"No single sign-on was started in this browser"}, "no flow cookie"},
		{"foreign flow cookie", "code=c&state=" + f.State, &http.Cookie{Name: "wsdeck-oidc", Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			http.StatusBadRequest, []string{"cannot be finished"}, "not sealed by this console"},
		{"wrong state", "code=c&state=" + random(), flowCookie,
			http.StatusBadRequest, []string{"state does not match"}, "state does not match"},
		{"no state", "code=c", flowCookie,
			http.StatusBadRequest, []string{"state does not match"}, "state does not match"},
		{"no code", "state=" + f.State, flowCookie,
			http.StatusBadRequest, []string{"sent no code"}, "no code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(recs.all())
			rec := callback(t, rp, tc.query, tc.cookie)
			if rec.Code != tc.status {
				t.Fatalf("status %d; want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			for _, s := range tc.page {
				if !strings.Contains(rec.Body.String(), s) {
					t.Fatalf("the page does not say %q: %s", s, rec.Body)
				}
			}
			if c := rec.Result().Cookies(); len(c) != 1 || c[0].Name != "wsdeck-oidc" || c[0].MaxAge >= 0 {
				t.Fatalf("cookies set %v; want the flow cookie deleted", c)
			}
			all := recs.all()
			if len(all) != before+1 {
				t.Fatalf("%d audit records written; want 1", len(all)-before)
			}
			r := all[len(all)-1]
			if r.Event != audit.EventLoginFailed || r.Method != auth.MethodOIDC || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("audit record %+v; want login_failed by oidc, the reason saying %q", r, tc.reason)
			}
		})
	}
}

// TestFlowCookieAttributes: the flow cookie is HttpOnly, SameSite=Lax (the
// provider's redirect back is cross-site), limited to the callback's path
// and to the flow's lifetime, and Secure with its prefix under TLS.
func TestFlowCookieAttributes(t *testing.T) {
	t.Parallel()
	cfg := testConfig("https://idp.example.com")
	cfg.Secure = true
	cfg.RedirectURL = "https://console.example.com/sso/cb"
	rp, _ := New(cfg)
	c := rp.flowCookie("v", 600)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/sso/cb" || c.MaxAge != 600 || c.Name != "__Secure-wsdeck-oidc" {
		t.Fatalf("flow cookie %+v", c)
	}
}
