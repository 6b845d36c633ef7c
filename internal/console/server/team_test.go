package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/websocket"
)

// fastHash makes the tests' users cheap to check; the server's store
// still checks them (and rehashes them under its own parameters).
var fastHash = &users.Options{Params: users.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	SecretKey: []byte("0123456789abcdef0123456789abcdef")}

// startTeam starts a console whose users store hashes cheaply.
func startTeam(t *testing.T, cfg Config) *testServer {
	t.Helper()
	cfg.userOptions = fastHash
	return start(t, cfg)
}

// addUser adds a user through the engine, as wsdeck user add does, and
// waits for ts to be in team mode.
func addUser(t *testing.T, ts *testServer, name string, role users.Role, password string) *users.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st, err := users.Open(ctx, ts.engine, fastHash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(ctx, name, role, password); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, testTimeout, "team mode after a user was added", ts.guard.TeamMode)
	return st
}

// postLogin posts the login form from origin, with cookie (if not nil)
// as the browser's current session, and returns the answer, body read.
func (ts *testServer) postLogin(t *testing.T, user, password, origin string, cookie *http.Cookie) (*http.Response, string) {
	t.Helper()
	form := url.Values{"user": {user}, "password": {password}}
	req, err := http.NewRequest("POST", ts.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// passwordLogin logs user in and returns the session cookie.
func (ts *testServer) passwordLogin(t *testing.T, user, password string) *http.Cookie {
	t.Helper()
	resp, body := ts.postLogin(t, user, password, ts.base, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login of %s: %s (Location %q): %s", user, resp.Status, resp.Header.Get("Location"), body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == ts.guard.CookieName() {
			return c
		}
	}
	t.Fatalf("login of %s set no session cookie", user)
	return nil
}

// auditRecords returns the audit records of event.
func (ts *testServer) auditRecords(t *testing.T, event string) []audit.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var out []audit.Record
	var from uint64
	for {
		recs, err := audit.Read(ctx, ts.team.audit.Stream(), from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Event == event {
				out = append(out, r)
			}
			from = r.Seq + 1
		}
		if len(recs) < 1000 {
			return out
		}
	}
}

// post posts to path with cookie from origin.
func (ts *testServer) post(t *testing.T, path string, cookie *http.Cookie, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", ts.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestTeamModeRefusesTheToken(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{})
	if ts.guard.TeamMode() {
		t.Fatal("team mode with no users")
	}
	tokenCookie := ts.login(t)
	ws, _, err := ts.dial(t, "/ws/chat", cookieHeader(tokenCookie))
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, ws)
	start := time.Now()
	st := addUser(t, ts, "alice", users.Admin, "alice-password")
	// The token's session ends when team mode comes on: its page's
	// socket is closed.
	closedWithin(t, ws, start, time.Second)

	if resp, _ := get(t, nil, ts.LoginURL(), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the token's login URL in team mode: %s, want 401", resp.Status)
	}
	if resp, _ := get(t, nil, ts.base+"/", bearer(testToken)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the bearer token in team mode: %s, want 401", resp.Status)
	}
	if resp, _ := get(t, nil, ts.base+"/", cookieHeader(tokenCookie)); resp.StatusCode != http.StatusUnauthorized &&
		resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a session the token started, in team mode: %s, want refused", resp.Status)
	}
	resp, _ := get(t, nil, ts.base+"/", http.Header{"Accept": {"text/html"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != auth.LoginPath {
		t.Errorf("a browser without a session: %s to %q, want 303 to /login", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := get(t, nil, ts.base+"/login", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Errorf("GET /login: %s, no password field", resp.Status)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "script-src") && !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("the login page's CSP %q", csp)
	}
	c := ts.passwordLogin(t, "alice", "alice-password")
	_, me := get(t, nil, ts.base+"/api/me", cookieHeader(c))
	var v meView
	if err := json.Unmarshal([]byte(me), &v); err != nil || v != (meView{User: "alice", Role: "admin", Method: "password", Team: true}) {
		t.Errorf("/api/me: %s (%v)", me, err)
	}

	// The last user gone, the token opens the console again (and
	// alice's session is over).
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := st.Remove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, testTimeout, "token mode once the last user is removed", func() bool { return !ts.guard.TeamMode() })
	if resp, _ := get(t, nil, ts.base+"/", bearer(testToken)); resp.StatusCode != http.StatusOK {
		t.Errorf("the bearer token back in token mode: %s", resp.Status)
	}
	poll.Until(t, testTimeout, "alice's session ended with her account", func() bool {
		resp, _ := get(t, nil, ts.base+"/api/me", cookieHeader(c))
		return resp.StatusCode == http.StatusUnauthorized
	})
}

// A wrong password, an unknown user and a disabled one get one answer.
func TestLoginFailuresLookTheSame(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{})
	st := addUser(t, ts, "alice", users.Operator, "alice-password")
	if _, err := st.Add(context.Background(), "carol", users.Viewer, "carol-password"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDisabled(context.Background(), "carol", true); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, user, password string }{
		{"wrong password", "alice", "not-her-password"},
		{"unknown user", "mallory", "alice-password"},
		{"disabled user", "carol", "carol-password"},
	}
	var first string
	for _, c := range cases {
		resp, body := ts.postLogin(t, c.user, c.password, ts.base, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %s, want 401", c.name, resp.Status)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: a cookie was set", c.name)
		}
		body = strings.ReplaceAll(body, `value="`+c.user+`"`, `value=""`)
		if first == "" {
			first = body
		} else if body != first {
			t.Errorf("%s: the page differs from the wrong password's:\n%s\n----\n%s", c.name, body, first)
		}
	}
	if !strings.Contains(first, msgBadLogin) {
		t.Errorf("the failure page lacks %q", msgBadLogin)
	}
	if n := len(ts.auditRecords(t, audit.EventLoginFailed)); n != len(cases) {
		t.Errorf("%d failed logins audited, want %d", n, len(cases))
	}
}

// Session fixation: an id the browser had before the login (planted, or
// its own) is not the id after it, and opens nothing after.
func TestLoginRotatesTheSessionID(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{})
	addUser(t, ts, "alice", users.Admin, "alice-password")
	planted := ts.passwordLogin(t, "alice", "alice-password")
	resp, _ := ts.postLogin(t, "alice", "alice-password", ts.base, planted)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	var fresh *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == ts.guard.CookieName() {
			fresh = c
		}
	}
	if fresh == nil || fresh.Value == planted.Value {
		t.Fatalf("the login kept the session id it was sent")
	}
	if !fresh.HttpOnly || fresh.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie: HttpOnly %v SameSite %v", fresh.HttpOnly, fresh.SameSite)
	}
	if resp, _ := get(t, nil, ts.base+"/api/me", cookieHeader(planted)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the id from before the login: %s, want 401", resp.Status)
	}
	if resp, _ := get(t, nil, ts.base+"/api/me", cookieHeader(fresh)); resp.StatusCode != http.StatusOK {
		t.Errorf("the new id: %s", resp.Status)
	}
	if n := len(ts.auditRecords(t, audit.EventLogin)); n != 2 {
		t.Errorf("%d logins audited, want 2", n)
	}
}

// A cookie kept after logout (stolen, replayed) opens nothing; the
// logout is audited; logins and logouts from another origin are refused;
// and a WebSocket from another origin is refused whatever its cookie.
func TestTeamAttacks(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{})
	addUser(t, ts, "alice", users.Admin, "alice-password")
	c := ts.passwordLogin(t, "alice", "alice-password")

	t.Run("cross-site login", func(t *testing.T) {
		resp, _ := ts.postLogin(t, "alice", "alice-password", "https://evil.example", nil)
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("a login posted from another origin: %s, %d cookies; want 403 and none", resp.Status, len(resp.Cookies()))
		}
	})
	t.Run("cross-site logout", func(t *testing.T) {
		if resp := ts.logout(t, c, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("a logout posted from another origin: %s, want 403", resp.Status)
		}
		if resp, _ := get(t, nil, ts.base+"/api/me", cookieHeader(c)); resp.StatusCode != http.StatusOK {
			t.Errorf("the session after a refused logout: %s", resp.Status)
		}
	})
	t.Run("foreign-origin websocket", func(t *testing.T) {
		h := cookieHeader(c)
		h.Set("Origin", "https://evil.example")
		ws, resp, err := ts.dial(t, "/ws/chat", h)
		if err == nil {
			ws.CloseNow()
			t.Fatal("a WebSocket from another origin with a valid cookie was accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("a WebSocket from another origin: %v, want 403", err)
		}
	})
	t.Run("cookie after logout", func(t *testing.T) {
		if resp := ts.logout(t, c, ts.base); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %s", resp.Status)
		}
		if resp, _ := get(t, nil, ts.base+"/api/me", cookieHeader(c)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the cookie after logout: %s, want 401", resp.Status)
		}
		if _, resp, err := ts.dial(t, "/ws/chat", cookieHeader(c)); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a WebSocket with the cookie after logout: %v, want 401", err)
		}
		recs := ts.auditRecords(t, audit.EventLogout)
		if len(recs) != 1 || recs[0].User != "alice" || recs[0].Method != auth.MethodPassword {
			t.Errorf("logout audit records: %+v", recs)
		}
	})
}

// 1,000 wrong passwords: most are refused with 429 before any password
// is checked, every one is audited, and the owner logs in once the wait
// is over.
func TestThousandWrongPasswords(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{LoginBackoff: users.BackoffOptions{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	addUser(t, ts, "alice", users.Operator, "alice-password")
	const tries = 1000
	codes := map[int]int{}
	for range tries {
		resp, _ := ts.postLogin(t, "alice", "guess-guess", ts.base, nil)
		codes[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("a 429 without Retry-After")
		}
	}
	t.Logf("answers to %d wrong passwords: %v", tries, codes)
	if codes[http.StatusOK]+codes[http.StatusSeeOther] > 0 {
		t.Fatal("a wrong password logged in")
	}
	if codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != tries {
		t.Fatalf("answers %v: want only 401 and 429", codes)
	}
	if codes[http.StatusTooManyRequests] < tries/2 {
		t.Errorf("only %d of %d guesses slowed (429)", codes[http.StatusTooManyRequests], tries)
	}
	recs := ts.auditRecords(t, audit.EventLoginFailed)
	if len(recs) != tries {
		t.Errorf("%d failed logins audited, want %d", len(recs), tries)
	}
	backoff := 0
	for _, r := range recs {
		if strings.HasPrefix(r.Reason, "backoff") {
			backoff++
		}
	}
	if backoff != codes[http.StatusTooManyRequests] {
		t.Errorf("%d audited as backoff, %d answered 429", backoff, codes[http.StatusTooManyRequests])
	}
	// The owner, from the same address, once the wait is over.
	start := time.Now()
	var resp *http.Response
	poll.Until(t, testTimeout, "the owner's login after the wait", func() bool {
		resp, _ = ts.postLogin(t, "alice", "alice-password", ts.base, nil)
		return resp.StatusCode == http.StatusSeeOther
	})
	t.Logf("the owner logged in %v after the last guess", time.Since(start).Round(time.Millisecond))
}

// twoNodes starts two consoles on one engine, an admin and bob (an
// operator) among their users.
func twoNodes(t *testing.T) (a, b *testServer, st *users.Store) {
	a = startTeam(t, Config{Engine: engine.Config{StateDir: t.TempDir(), ListenAddr: "127.0.0.1:0"}})
	b = startTeam(t, Config{Engine: engine.Config{URLs: []string{a.engine.ClientURL()}}})
	st = addUser(t, a, "root", users.Admin, "root-password")
	if _, err := st.Add(context.Background(), "bob", users.Operator, "bob-password"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, testTimeout, "node b in team mode", b.guard.TeamMode)
	return a, b, st
}

// openOn opens bob's chat socket on node n with the cookie another node
// set (a load balancer would give both one cookie name).
func openOn(t *testing.T, n *testServer, c *http.Cookie) *websocket.Conn {
	t.Helper()
	h := cookieHeader(&http.Cookie{Name: n.guard.CookieName(), Value: c.Value})
	ws, _, err := n.dial(t, "/ws/chat", h)
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, ws)
	return ws
}

// closedWithin reads ws until it ends, and fails t unless it ended with
// 4401 within d.
func closedWithin(t *testing.T, ws *websocket.Conn, from time.Time, d time.Duration) {
	t.Helper()
	err := waitClose(t, ws)
	took := time.Since(from)
	wantSessionEnded(t, err)
	t.Logf("socket closed %v after the change", took.Round(time.Millisecond))
	if took > d {
		t.Errorf("closed after %v, want within %v", took, d)
	}
}

// An admin revokes bob's session on node a: his socket on node b closes
// within a second, his cookie opens nothing, and the revocation is
// audited once.
func TestRevokeClosesSocketsOnEveryNode(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t)
	bob := a.passwordLogin(t, "bob", "bob-password")
	ws := openOn(t, b, bob)
	root := a.passwordLogin(t, "root", "root-password")

	// bob may not list or revoke.
	if resp, _ := get(t, nil, a.base+"/api/sessions", cookieHeader(bob)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an operator lists sessions: %s, want 403", resp.Status)
	}
	resp, body := get(t, nil, a.base+"/api/sessions", cookieHeader(root))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sessions: %s", resp.Status)
	}
	var list []sessionView
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var key string
	for _, s := range list {
		if s.User == "bob" {
			key = s.Key
			if s.Role != "operator" || s.Method != auth.MethodPassword || s.Remote == "" || s.Created.IsZero() {
				t.Errorf("bob's session as listed: %+v", s)
			}
		}
	}
	if key == "" {
		t.Fatalf("bob's session not listed: %s", body)
	}
	if resp := a.post(t, "/api/sessions/"+key+"/revoke", bob, a.base); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an operator revokes: %s, want 403", resp.Status)
	}
	if resp := a.post(t, "/api/sessions/"+key+"/revoke", root, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a revoke from another origin: %s, want 403", resp.Status)
	}

	start := time.Now()
	if resp := a.post(t, "/api/sessions/"+key+"/revoke", root, a.base); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %s", resp.Status)
	}
	closedWithin(t, ws, start, time.Second)
	if resp, _ := get(t, nil, b.base+"/api/me", cookieHeader(&http.Cookie{Name: b.guard.CookieName(), Value: bob.Value})); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob's cookie after the revoke: %s, want 401", resp.Status)
	}
	if resp := a.post(t, "/api/sessions/"+key+"/revoke", root, a.base); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a second revoke: %s, want 404", resp.Status)
	}
	recs := a.auditRecords(t, audit.EventRevoke)
	if len(recs) != 1 || recs[0].User != "bob" || !strings.Contains(recs[0].Reason, "root") {
		t.Errorf("revoke audit records: %+v", recs)
	}
}

// Removing bob, disabling him, lowering his role, setting his password or
// changing his second factor (through the users store, as wsdeck user
// does) closes his socket on the other node within a second, and each is
// audited once.
func TestUserChangesEndSessions(t *testing.T) {
	t.Parallel()
	a, b, st := twoNodes(t)
	changes := []struct {
		name   string
		change func(ctx context.Context) error
		reason string
	}{
		{"role lowered", func(ctx context.Context) error { return st.SetRole(ctx, "bob", users.Viewer) }, "role changed"},
		{"disabled", func(ctx context.Context) error { return st.SetDisabled(ctx, "bob", true) }, "user disabled"},
		{"password set", func(ctx context.Context) error { return st.SetPassword(ctx, "bob", "bob-password") }, "password or second factor changed"},
		{"second factor enrolled and removed", func(ctx context.Context) error {
			if _, err := st.EnrolTOTP(ctx, "bob"); err != nil {
				return err
			}
			return st.RemoveTOTP(ctx, "bob")
		}, "password or second factor changed"},
		{"removed", func(ctx context.Context) error { return st.Remove(ctx, "bob") }, "user removed"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, c := range changes {
		bob := a.passwordLogin(t, "bob", "bob-password")
		ws := openOn(t, b, bob)
		start := time.Now()
		if err := c.change(ctx); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		closedWithin(t, ws, start, time.Second)
		if c.name == "disabled" {
			if err := st.SetDisabled(ctx, "bob", false); err != nil {
				t.Fatal(err)
			}
		}
	}
	recs := a.auditRecords(t, audit.EventRevoke)
	if len(recs) != len(changes) {
		t.Errorf("%d revocations audited, want %d: %+v", len(recs), len(changes), recs)
	}
	for i, r := range recs {
		if i < len(changes) && !strings.HasPrefix(r.Reason, changes[i].reason) {
			t.Errorf("revocation %d: reason %q, want %q", i, r.Reason, changes[i].reason)
		}
	}
}

func TestLoginPageInTokenMode(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{})
	resp, body := get(t, nil, ts.base+"/login", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, `name="password"`) {
		t.Errorf("GET /login in token mode: %s; a password form: %v", resp.Status, strings.Contains(body, `name="password"`))
	}
	if resp, _ := ts.postLogin(t, "alice", "x", ts.base, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /login in token mode: %s, want 404", resp.Status)
	}
}

// postLoginCode posts the login form with a second factor's code.
func (ts *testServer) postLoginCode(t *testing.T, user, password, code string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"user": {user}, "password": {password}, "code": {code}}
	req, err := http.NewRequest("POST", ts.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.base)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// A user with a TOTP second factor: the password alone asks for the code,
// a wrong code is refused (and counted, and audited), the right one logs
// in, and not twice. With --require-2fa admins, an admin without one is refused and an
// operator without one is not.
func TestSecondFactor(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{Require2FA: Require2FAAdmins})
	st := addUser(t, ts, "alice", users.Admin, "alice-password")
	if _, err := st.Add(t.Context(), "bob", users.Operator, "bob-password"); err != nil {
		t.Fatal(err)
	}

	resp, body := ts.postLoginCode(t, "alice", "alice-password", "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "second factor") {
		t.Errorf("an admin without a second factor under --require-2fa admins: %s", resp.Status)
	}
	ts.passwordLogin(t, "bob", "bob-password") // an operator needs none

	secret := enrolTOTP(t, st, "alice")
	resp, body = ts.postLoginCode(t, "alice", "alice-password", "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `name="code"`) || len(resp.Cookies()) != 0 {
		t.Errorf("the password alone: %s, code field %v, %d cookies; want 401 asking for the code", resp.Status, strings.Contains(body, `name="code"`), len(resp.Cookies()))
	}
	wrong, _ := users.TOTPCode(secret, time.Now().Add(-time.Hour))
	if resp, _ := ts.postLoginCode(t, "alice", "alice-password", wrong); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a stale code: %s, want 401 and no cookie", resp.Status)
	}
	// A right code without the right password is no login either.
	right, _ := users.TOTPCode(secret, time.Now())
	if resp, body := ts.postLoginCode(t, "alice", "wrong-password", right); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, `name="code"`) {
		t.Errorf("the right code with a wrong password: %s (asks for a code: %v)", resp.Status, strings.Contains(body, `name="code"`))
	}
	resp, _ = ts.postLoginCode(t, "alice", "alice-password", right)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("password and the current code: %s, want 303 with the cookie", resp.Status)
	}
	// Seen over a shoulder, or in a proxy's log: the same code again.
	if resp, _ := ts.postLoginCode(t, "alice", "alice-password", right); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a code used already: %s, want 401 and no cookie", resp.Status)
	}
	var reasons []string
	for _, r := range ts.auditRecords(t, audit.EventLoginFailed) {
		reasons = append(reasons, r.Reason)
	}
	want := []string{"second factor required, none enrolled", "second factor: no code", "second factor: wrong code", "wrong user name or password", "second factor: wrong code"}
	if strings.Join(reasons, "|") != strings.Join(want, "|") {
		t.Errorf("failed logins audited: %q, want %q", reasons, want)
	}
	logins := ts.auditRecords(t, audit.EventLogin)
	if last := logins[len(logins)-1]; last.User != "alice" || last.Reason != "second factor: totp" {
		t.Errorf("alice's login audited as %+v", last)
	}
}

// A script's socket opened with the bearer token in token mode is closed,
// on every node, when team mode comes on (a user is added): the token
// opens nothing from then on, whatever it opened before.
func TestTeamModeClosesTokenSockets(t *testing.T) {
	t.Parallel()
	a := startTeam(t, Config{Engine: engine.Config{StateDir: t.TempDir(), ListenAddr: "127.0.0.1:0"}})
	b := startTeam(t, Config{Engine: engine.Config{URLs: []string{a.engine.ClientURL()}}})
	var socks []*websocket.Conn
	for _, n := range []*testServer{a, b} {
		ws, _, err := n.dial(t, "/ws/chat", bearer(testToken))
		if err != nil {
			t.Fatal(err)
		}
		readMsg(t, ws)
		socks = append(socks, ws)
	}
	addUser(t, a, "root", users.Admin, "root-password")
	for i, ws := range socks {
		var ce websocket.CloseError
		if err := waitClose(t, ws); !errors.As(err, &ce) || ce.Code != CloseSessionEnded || ce.Reason != teamModeReason {
			t.Errorf("node %d: the token's socket ended with %v, want 4401 %q", i, err, teamModeReason)
		}
	}
	if _, resp, err := b.dial(t, "/ws/chat", bearer(testToken)); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a new socket with the token in team mode: %v, %v; want 401", resp, err)
	}
}

// TestSecondFactorKeyFile: the server seals and opens second factors with
// the key in --secret-key-file (made if missing). A second factor sealed
// under another key (a node given another file) is not a login: 503, and
// the log says why; sealed under the file's key, it logs in.
func TestSecondFactorKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	cfg := Config{SecretKeyFile: path}
	cfg.userOptions = &users.Options{Params: fastHash.Params} // no key: the file's
	ts := start(t, cfg)
	addUser(t, ts, "alice", users.Admin, "alice-password")
	key, created, err := users.LoadKey(path, false)
	if err != nil || created {
		t.Fatalf("the server made no key file: %v", err)
	}
	login := func(k []byte) *http.Response {
		t.Helper()
		st, err := users.Open(t.Context(), ts.engine, &users.Options{Params: fastHash.Params, SecretKey: k})
		if err != nil {
			t.Fatal(err)
		}
		code, _ := users.TOTPCode(enrolTOTP(t, st, "alice"), time.Now())
		resp, _ := ts.postLoginCode(t, "alice", "alice-password", code)
		return resp
	}
	other := []byte("another key, not the file's 32 b")
	if resp := login(other); resp.StatusCode != http.StatusServiceUnavailable || len(resp.Cookies()) != 0 {
		t.Errorf("a second factor sealed under another key: %s, %d cookies; want 503 and none", resp.Status, len(resp.Cookies()))
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "sealed with another key") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
	if resp := login(key); resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Errorf("a second factor sealed under the file's key: %s, want a login", resp.Status)
	}
}

// enrolTOTP gives name a second factor through st, as wsdeck user totp
// does, and returns its secret as the authenticator app reads it.
func enrolTOTP(t *testing.T, st *users.Store, name string) string {
	t.Helper()
	enrolled, err := st.EnrolTOTP(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(enrolled)
	if err != nil {
		t.Fatal(err)
	}
	return key.Secret()
}
