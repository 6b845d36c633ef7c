package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// testClock is a settable clock for Config.now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func cookieHeader(c *http.Cookie) http.Header {
	return http.Header{"Cookie": {c.Name + "=" + c.Value}}
}

// logout posts to /logout with cookie, from the console's own page.
func (ts *testServer) logout(t *testing.T, cookie *http.Cookie, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", ts.base+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	req.Header.Set("Origin", origin)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// waitClose reads c until it ends, and returns the close error.
func waitClose(t *testing.T, c *websocket.Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return err
		}
	}
}

// wantSessionEnded checks that err is a close with 4401 "session ended".
func wantSessionEnded(t *testing.T, err error) {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseSessionEnded || ce.Reason != "session ended" {
		t.Fatalf("socket ended with %v, want a close with 4401 session ended", err)
	}
}

func TestEachLoginIsANewSession(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	a, b := ts.login(t), ts.login(t)
	if a.Value == b.Value {
		t.Fatalf("two logins got the same cookie %q: it can be replayed forever", a.Value)
	}
	for _, c := range []*http.Cookie{a, b} {
		if resp, _ := get(t, nil, ts.base+"/", cookieHeader(c)); resp.StatusCode != http.StatusOK {
			t.Errorf("a login's cookie: %s", resp.Status)
		}
	}
}

func TestLoggedOutCookieIsRefused(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	c := ts.login(t)
	if resp := ts.logout(t, c, ts.base); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %s", resp.Status)
	}
	if resp, _ := get(t, nil, ts.base+"/", cookieHeader(c)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the page with a logged-out cookie: %s, want 401", resp.Status)
	}
	// Replayed to Exec, by a program that kept a copy.
	ws, resp, err := ts.dial(t, "/ws/exec", cookieHeader(c))
	if err == nil {
		ws.CloseNow()
		t.Fatal("/ws/exec accepted a logged-out cookie")
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/ws/exec with a logged-out cookie: %v, want 401", err)
	}
	// Bearer-token clients are untouched.
	ts.mustDial(t, "/ws/exec").CloseNow()
}

func TestLogoutFromAnotherOriginIsRefused(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	c := ts.login(t)
	// A page on another port of the same host: its POST carries the
	// cookie (same site), only its origin differs.
	if resp := ts.logout(t, c, "http://127.0.0.1:1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout from another origin: %s, want 403", resp.Status)
	}
	if resp, _ := get(t, nil, ts.base+"/", cookieHeader(c)); resp.StatusCode != http.StatusOK {
		t.Errorf("after a refused logout the cookie gets %s", resp.Status)
	}
}

func TestLogoutClosesTheSessionsSockets(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	mine, other := ts.login(t), ts.login(t)
	var socks []*websocket.Conn
	for _, path := range []string{"/ws/chat", "/ws/monitor", "/ws/exec"} {
		c, _, err := ts.dial(t, path, cookieHeader(mine))
		if err != nil {
			t.Fatal(err)
		}
		readMsg(t, c) // open for sure
		socks = append(socks, c)
	}
	bystander, _, err := ts.dial(t, "/ws/chat", cookieHeader(other))
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, bystander)

	if resp := ts.logout(t, mine, ts.base); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %s", resp.Status)
	}
	for _, c := range socks {
		wantSessionEnded(t, waitClose(t, c))
	}
	// Another session's socket stays open: it still gets chat traffic.
	writeMsg(t, bystander, map[string]string{"type": "send", "text": "still here"})
	for {
		if m := readMsg(t, bystander); m["type"] == "message" {
			break
		}
	}
}

func TestExpiredSessionIsRefusedAndItsSocketsClosed(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ts := start(t, Config{now: clk.Now, SessionIdle: time.Hour, SessionMax: 3 * time.Hour})
	busy, idle := ts.login(t), ts.login(t)
	c, _, err := ts.dial(t, "/ws/chat", cookieHeader(busy))
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, c)

	// An open socket is a use: 2 hours of it, checked as the server does
	// every little while, keep its session alive past the idle limit;
	// the session with no socket and no request ends.
	for range 4 {
		clk.Add(30 * time.Minute)
		ts.checkSessions(context.Background())
	}
	if resp, _ := get(t, nil, ts.base+"/", cookieHeader(busy)); resp.StatusCode != http.StatusOK {
		t.Errorf("a session kept busy by its socket: %s", resp.Status)
	}
	if resp, _ := get(t, nil, ts.base+"/", cookieHeader(idle)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a session unused for 2h with an idle limit of 1h: %s, want 401", resp.Status)
	}

	// 3 hours after its login it ends however busy: its socket is closed
	// at the next check, and its cookie refused.
	clk.Add(time.Hour)
	ts.checkSessions(context.Background())
	wantSessionEnded(t, waitClose(t, c))
	if resp, _ := get(t, nil, ts.base+"/", cookieHeader(busy)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a session past its maximum age: %s, want 401", resp.Status)
	}
	if _, resp, err := ts.dial(t, "/ws/chat", cookieHeader(busy)); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a socket with the expired cookie: %v, want 401", err)
	}
}

// The session cap bounds the sessions kept: the least recently used goes,
// and its sockets are closed at the next check.
func TestMaxSessions(t *testing.T) {
	t.Parallel()
	clk := newTestClock()
	ts := start(t, Config{now: clk.Now, MaxSessions: 2})
	first := ts.login(t)
	c, _, err := ts.dial(t, "/ws/chat", cookieHeader(first))
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, c)
	for range 5 {
		clk.Add(time.Minute)
		ts.login(t)
	}
	ts.checkSessions(context.Background())
	wantSessionEnded(t, waitClose(t, c))
	if resp, _ := get(t, nil, ts.base+"/", cookieHeader(first)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the evicted session: %s, want 401", resp.Status)
	}
}

func TestSessionCookieUnderTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := selfSigned(t)
	ts := start(t, Config{TLSCert: certFile, TLSKey: keyFile})
	name := ts.guard.CookieName()
	if !strings.HasPrefix(name, "__Host-wsdeck-") {
		t.Errorf("cookie name %q under TLS: want the __Host- prefix", name)
	}
}
