package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wsdeck/internal/console/audit"
	"wsdeck/internal/console/auth"
	"wsdeck/internal/console/oidc"
	"wsdeck/internal/engine"
	"wsdeck/internal/testkit/poll"
)

// TestOIDCWired: a console with single sign-on configured is in team
// mode, links to it from the login page, and serves its two handlers
// outside the credentials check. Its provider being down at start is
// logged naming the issuer and is not fatal; the SSO link then says the
// provider cannot be reached; an error the provider sends back is shown
// and audited as a failed login by oidc. (The whole flow against a real
// provider: e2e/oidcop and e2e/oidc_browser_test.go.)
func TestOIDCWired(t *testing.T) {
	t.Parallel()
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer idp.Close()
	ts := startTeam(t, Config{OIDC: &oidc.Config{Issuer: idp.URL, ClientID: "wsdeck", ClientSecret: "wsdeck-secret"}})

	poll.Until(t, testTimeout, "team mode with single sign-on and no users", ts.guard.TeamMode)
	if logs := ts.logs.String(); !strings.Contains(logs, "single sign-on: the provider cannot be reached") || !strings.Contains(logs, idp.URL) {
		t.Errorf("the log does not say the provider %s is down:\n%s", idp.URL, logs)
	}
	resp, body := get(t, nil, ts.base+auth.LoginPath, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="`+oidc.LoginPath+`"`) {
		t.Errorf("GET /login: %s, without a link to %s:\n%s", resp.Status, oidc.LoginPath, body)
	}
	resp, body = get(t, nil, ts.base+oidc.LoginPath, nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, idp.URL) {
		t.Errorf("GET %s with the provider down: %s; want 502 naming %s:\n%s", oidc.LoginPath, resp.Status, idp.URL, body)
	}
	resp, body = get(t, nil, ts.base+oidc.CallbackPath+"?error=access_denied&error_description=not+today", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "access_denied") || !strings.Contains(body, "not today") {
		t.Errorf("the provider's error: %s; want 401 saying access_denied (not today):\n%s", resp.Status, body)
	}
	flowCookie := ""
	for _, c := range resp.Cookies() {
		flowCookie = c.Name
	}
	if want := ts.guard.CookieName() + "-oidc"; flowCookie != want {
		t.Errorf("the callback set the cookie %q; want the flow cookie %q (deleted)", flowCookie, want)
	}
	recs := ts.auditRecords(t, audit.EventLoginFailed)
	if len(recs) != 1 || recs[0].Method != auth.MethodOIDC || !strings.Contains(recs[0].Reason, "access_denied") {
		t.Errorf("audit records of failed logins %+v; want one by oidc naming access_denied", recs)
	}
}

// TestOIDCConfigChecked: a console whose single sign-on lacks a client id
// does not start, and says which flag is missing.
func TestOIDCConfigChecked(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Addr: "127.0.0.1:0", Token: testToken, Engine: engine.Config{StateDir: t.TempDir()}, Out: io.Discard,
		OIDC: &oidc.Config{Issuer: "https://sso.example.com"}})
	if err == nil || !strings.Contains(err.Error(), "--oidc-client-id") {
		t.Fatalf("New with no client id = %v; want an error naming --oidc-client-id", err)
	}
}
