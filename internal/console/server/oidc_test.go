package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/oidc"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
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

// TestOIDCSessionsFollowThePolicy: when a reload of the policy changes
// the role its bindings give a user of single sign-on, their session
// ends (audited as a revocation, with the role they now have); a session
// whose role the reload leaves as it was goes on.
func TestOIDCSessionsFollowThePolicy(t *testing.T) {
	t.Parallel()
	idp := httptest.NewServer(http.NotFoundHandler())
	defer idp.Close()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	const before = "bindings:\n  - oidc_groups: [sre]\n    role: admin\n  - oidc_groups: [dev]\n    role: viewer\n"
	if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	reload := make(chan os.Signal)
	ts := startTeam(t, Config{PolicyFile: path, PolicyReload: reload,
		OIDC: &oidc.Config{Issuer: idp.URL, ClientID: "wsdeck", ClientSecret: "wsdeck-secret"}})
	login := func(id auth.Identity) {
		t.Helper()
		if err := ts.guard.StartSession(httptest.NewRecorder(), httptest.NewRequest("GET", "/login/oidc/callback", nil), id); err != nil {
			t.Fatal(err)
		}
	}
	login(auth.Identity{User: "olivia", Role: users.Admin, Method: auth.MethodOIDC, Groups: []string{"sre"}})
	login(auth.Identity{User: "dave", Role: users.Viewer, Method: auth.MethodOIDC, Groups: []string{"dev"}})
	holders := func() map[string]bool {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		all, err := ts.sessions.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, s := range all {
			out[s.Identity.User] = true
		}
		return out
	}
	if u := holders(); !u["olivia"] || !u["dave"] {
		t.Fatalf("sessions of %v; want olivia's and dave's", u)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(before, "role: admin", "role: viewer", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- os.Interrupt
	poll.Until(t, testTimeout, "olivia's session ended", func() bool { return !holders()["olivia"] })
	if !holders()["dave"] {
		t.Error("dave's session ended; his role did not change")
	}
	recs := ts.auditRecords(t, audit.EventRevoke)
	if len(recs) != 1 || recs[0].User != "olivia" || recs[0].Method != auth.MethodOIDC || recs[0].Reason != "role under the policy now viewer" {
		t.Errorf("revocations audited %+v; want olivia's, the role under the policy now viewer", recs)
	}
}
