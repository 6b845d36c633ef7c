package server

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/websocket"
)

// wantFull checks a refusal for a cap: 503, Retry-After, and which cap.
func wantFull(t *testing.T, what string, resp *http.Response, limit string) {
	t.Helper()
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%s: %v, want 503", what, resp)
	}
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Wsdeck-Limit") != limit {
		t.Errorf("%s: Retry-After %q, Wsdeck-Limit %q; want a delay and %q", what,
			resp.Header.Get("Retry-After"), resp.Header.Get("Wsdeck-Limit"), limit)
	}
}

func TestMaxConnsPerClient(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{MaxConnsPerClient: 2})
	alice, bob := ts.login(t), ts.login(t)
	for range 2 {
		c, _, err := ts.dial(t, "/ws/chat", cookieHeader(alice))
		if err != nil {
			t.Fatal(err)
		}
		readMsg(t, c)
	}
	c, resp, err := ts.dial(t, "/ws/monitor", cookieHeader(alice))
	if err == nil {
		c.CloseNow()
		t.Fatal("a third socket of one session was accepted with --max-conns-per-client 2")
	}
	wantFull(t, "alice's third socket", resp, "client")
	// Another session, from the same address, still gets in.
	b, _, err := ts.dial(t, "/ws/chat", cookieHeader(bob))
	if err != nil {
		t.Fatalf("bob, while alice is at her cap: %v", err)
	}
	// Bearer clients are counted by address: two, then refused.
	ts.mustDial(t, "/ws/chat")
	ts.mustDial(t, "/ws/chat")
	if _, resp, err := ts.dial(t, "/ws/chat", bearer(testToken)); err == nil {
		t.Fatal("a third bearer socket from one address was accepted")
	} else {
		wantFull(t, "third bearer socket", resp, "client")
	}
	b.Close(websocket.StatusNormalClosure, "")
	for _, ep := range []string{"monitor", "chat"} {
		if n := ts.metric(t, "wsdeck_requests_refused_total", map[string]string{"endpoint": ep, "reason": "max_conns_per_client"}); n != 1 {
			t.Errorf("%v per-client refusals counted for %s, want 1", n, ep)
		}
	}
}

func TestMaxConnsInAllWithPerClient(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{MaxConns: 3, MaxConnsPerClient: 2})
	alice, bob := ts.login(t), ts.login(t)
	for _, c := range []*http.Cookie{alice, alice, bob} {
		ws, _, err := ts.dial(t, "/ws/chat", cookieHeader(c))
		if err != nil {
			t.Fatal(err)
		}
		readMsg(t, ws)
	}
	// bob is under his own cap, but the console is full.
	_, resp, err := ts.dial(t, "/ws/chat", cookieHeader(bob))
	if err == nil {
		t.Fatal("a fourth socket accepted with --max-conns 3")
	}
	wantFull(t, "bob at the total cap", resp, "total")
}

// probe does a plain GET of a WebSocket endpoint, as the page does after a
// failed handshake, and returns the status and body.
func (ts *testServer) probe(t *testing.T, path string, header http.Header, host string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", ts.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if host != "" {
		req.Host = host
	}
	return do(t, req)
}

// TestProbeSaysWhy: a plain GET of a WebSocket endpoint runs the checks of
// a handshake, in the same order (Host, credentials, Origin, caps), and
// answers 426 when all pass, taking no slot.
func TestProbeSaysWhy(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{MaxConnsPerClient: 1})
	_, port, _ := net.SplitHostPort(ts.Addr().String())
	full, free := ts.login(t), ts.login(t)
	c, _, err := ts.dial(t, "/ws/chat", cookieHeader(full))
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, c)
	withOrigin := func(h http.Header, origin string) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("Origin", origin)
		return h
	}
	tests := []struct {
		name   string
		header http.Header
		host   string
		want   int
	}{
		{"all good", cookieHeader(free), "", http.StatusUpgradeRequired},
		{"all good, own origin", withOrigin(cookieHeader(free), ts.base), "", http.StatusUpgradeRequired},
		{"at the cap", cookieHeader(full), "", http.StatusServiceUnavailable},
		{"no credentials", nil, "", http.StatusUnauthorized},
		{"other origin", withOrigin(cookieHeader(free), "http://127.0.0.1:1"), "", http.StatusForbidden},
		// The order: Host before credentials before Origin before caps.
		{"foreign host, no credentials", nil, "evil.example:" + port, http.StatusForbidden},
		{"no credentials, other origin", withOrigin(nil, "http://127.0.0.1:1"), "", http.StatusUnauthorized},
		{"other origin, at the cap", withOrigin(cookieHeader(full), "http://127.0.0.1:1"), "", http.StatusForbidden},
	}
	for _, tt := range tests {
		resp, body := ts.probe(t, "/ws/chat", tt.header, tt.host)
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %s %q, want %d", tt.name, resp.Status, body, tt.want)
		}
		if tt.want == http.StatusServiceUnavailable && !strings.Contains(body, "from you") {
			t.Errorf("%s: %q does not say the cap is the client's", tt.name, body)
		}
	}
	// Probes took no slot: the free session's one socket still fits.
	c2, _, err := ts.dial(t, "/ws/chat", cookieHeader(free))
	if err != nil {
		t.Fatalf("after the probes: %v", err)
	}
	c2.CloseNow()
}
