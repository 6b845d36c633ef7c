package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/websocket"
)

const (
	testToken = "test-token-0123456789abcdef"
	// testTimeout bounds every wait: generous, for a loaded machine.
	testTimeout = 30 * time.Second
)

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testServer struct {
	*Server
	base   string // http://127.0.0.1:PORT
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan error // Serve's result
}

// start runs a console on a free loopback port until the test ends. An
// empty cfg.Token means testToken.
func start(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Addr == "" && cfg.Listener == nil {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.Engine.StateDir == "" {
		// The embedded engine's files, and the node's own (the secret
		// key) with an external one.
		cfg.Engine.StateDir = t.TempDir()
	}
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, base: strings.TrimSuffix(s.URL(), "/"), logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-ts.done
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return ts
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// get does a GET with header and returns the response, body read.
func get(t *testing.T, client *http.Client, u string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var noRedirects = &http.Client{
	Timeout:       testTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// login exchanges the token for the session cookie.
func (ts *testServer) login(t *testing.T) *http.Cookie {
	t.Helper()
	resp, _ := get(t, nil, ts.LoginURL(), nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == ts.guard.CookieName() {
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

// dial opens a WebSocket to path with header.
func (ts *testServer) dial(t *testing.T, path string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.base, "http")+path, &websocket.DialOptions{HTTPHeader: header})
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

// mustDial opens a WebSocket with the bearer token.
func (ts *testServer) mustDial(t *testing.T, path string) *websocket.Conn {
	t.Helper()
	c, _, err := ts.dial(t, path, bearer(testToken))
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	return c
}

// metric returns the value of a counter or gauge with the given labels.
func (ts *testServer) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := ts.Metrics().Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func readMsg(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, p, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatalf("not JSON: %s", p)
	}
	return m
}

func writeMsg(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		b, _ = json.Marshal(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestHealthzNeedsNoCredentials(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	resp, body := get(t, nil, ts.base+"/healthz", nil)
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %s %q", resp.Status, body)
	}
}

func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	cookie := ts.login(t)
	paths := []string{"/", "/app.css", "/js/app.js", "/vendor/echarts/echarts.esm.min.mjs", "/metrics", "/nonexistent"}
	creds := []struct {
		name   string
		header http.Header
		want   int // for "/"; other paths may say 404
	}{
		{"none", nil, http.StatusUnauthorized},
		{"wrong bearer", bearer("wrong"), http.StatusUnauthorized},
		{"wrong cookie", http.Header{"Cookie": {cookie.Name + "=forged"}}, http.StatusUnauthorized},
		{"bearer", bearer(testToken), http.StatusOK},
		{"cookie", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}, http.StatusOK},
	}
	for _, c := range creds {
		for _, p := range paths {
			resp, body := get(t, nil, ts.base+p, c.header)
			want := c.want
			if want == http.StatusOK && p == "/nonexistent" {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s: %s, want %d", c.name, p, resp.Status, want)
			}
			if want == http.StatusUnauthorized && strings.Contains(body, "wsdeck_") {
				t.Errorf("%s %s: a refused request got the metrics", c.name, p)
			}
		}
	}
	// /metrics with the bearer token, as Prometheus scrapes it.
	_, body := get(t, nil, ts.base+"/metrics", bearer(testToken))
	for _, name := range []string{"wsdeck_connections", "wsdeck_messages_received_total", "wsdeck_slow_consumers_dropped_total", "wsdeck_monitor_samples_total", "go_goroutines"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if n := ts.metric(t, "wsdeck_requests_refused_total", map[string]string{"endpoint": "page", "reason": "auth"}); n == 0 {
		t.Error("refused page requests not counted")
	}
}

func TestLoginRedirectsToCleanURL(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	resp, body := get(t, nil, ts.LoginURL(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q, want 303 to /", resp.Status, resp.Header.Get("Location"))
	}
	if strings.Contains(body, testToken) {
		t.Error("the login response holds the token")
	}
	// Following it, a browser-like client with a cookie jar gets the page.
	jar := newJar()
	client := &http.Client{Jar: jar, Timeout: testTimeout}
	resp, body = get(t, client, ts.LoginURL(), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<title>wsdeck</title>") {
		t.Fatalf("after login: %s", resp.Status)
	}
	if resp.Request.URL.RawQuery != "" {
		t.Errorf("landed on %s: the token is still in the URL", resp.Request.URL)
	}
}

func TestWebSocketHandshakeAuth(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	cookie := ts.login(t)
	for _, path := range []string{"/ws/chat", "/ws/monitor", "/ws/exec"} {
		for _, tt := range []struct {
			name   string
			header http.Header
		}{
			{"none", nil},
			{"wrong bearer", bearer(testToken + "x")},
			{"wrong cookie", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value + "x"}}},
			{"token in the query", nil}, // a login, not a credential: redirected, so refused
		} {
			p := path
			if tt.name == "token in the query" {
				p += "?token=" + testToken
			}
			c, resp, err := ts.dial(t, p, tt.header)
			if err == nil {
				c.CloseNow()
				t.Errorf("%s %s: handshake accepted", tt.name, path)
				continue
			}
			want := http.StatusUnauthorized
			if tt.name == "token in the query" {
				want = http.StatusSeeOther
			}
			if resp == nil || resp.StatusCode != want {
				t.Errorf("%s %s: %v, want a refused handshake with %d", tt.name, path, err, want)
			}
		}
	}
	// Refused means never accepted: no connection was counted.
	for _, ep := range []string{"chat", "monitor", "exec"} {
		if n := ts.metric(t, "wsdeck_connections_total", map[string]string{"endpoint": ep}); n != 0 {
			t.Errorf("%s: %v connections accepted", ep, n)
		}
	}
	// The good credentials work.
	for _, h := range []http.Header{bearer(testToken), {"Cookie": {cookie.Name + "=" + cookie.Value}}} {
		c, _, err := ts.dial(t, "/ws/chat", h)
		if err != nil {
			t.Fatalf("with %v: %v", h, err)
		}
		if m := readMsg(t, c); m["type"] != "welcome" {
			t.Errorf("first message %v, want the welcome", m)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestOriginCheck(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{AllowOrigins: []string{"https://console.example.com"}})
	_, port, _ := net.SplitHostPort(ts.Addr().String())
	tests := []struct {
		name   string
		origin string // "" sends none
		ok     bool
	}{
		{"same origin", "http://127.0.0.1:" + port, true},
		{"missing (not a browser)", "", true},
		{"other port", "http://127.0.0.1:1", false},
		{"other scheme", "https://127.0.0.1:" + port, false},
		{"other host", "http://localhost:" + port, false},
		{"other site", "http://evil.example", false},
		{"null", "null", false},
		{"allowed by --allow-origin", "https://console.example.com", true},
		{"like the allowed one, but http", "http://console.example.com", false},
	}
	refusedBefore := ts.metric(t, "wsdeck_requests_refused_total", map[string]string{"endpoint": "chat", "reason": "origin"})
	refused := 0
	for _, tt := range tests {
		h := bearer(testToken)
		if tt.origin != "" {
			h.Set("Origin", tt.origin)
		}
		c, resp, err := ts.dial(t, "/ws/chat", h)
		if tt.ok {
			if err != nil {
				t.Errorf("%s: refused: %v", tt.name, err)
			} else {
				c.Close(websocket.StatusNormalClosure, "")
			}
			continue
		}
		refused++
		if err == nil {
			c.CloseNow()
			t.Errorf("%s: Origin %q accepted", tt.name, tt.origin)
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v, want 403", tt.name, err)
		}
	}
	if n := ts.metric(t, "wsdeck_requests_refused_total", map[string]string{"endpoint": "chat", "reason": "origin"}); n-refusedBefore != float64(refused) {
		t.Errorf("%v origin refusals counted, want %d", n-refusedBefore, refused)
	}
}

func TestMaxConns(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{MaxConns: 2})
	a := ts.mustDial(t, "/ws/chat")
	ts.mustDial(t, "/ws/monitor")
	c, resp, err := ts.dial(t, "/ws/exec", bearer(testToken))
	if err == nil {
		c.CloseNow()
		t.Fatal("a third connection was accepted with --max-conns 2")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v, want 503", err)
	}
	// Plain HTTP is not counted against the cap.
	if resp, _ := get(t, nil, ts.base+"/", bearer(testToken)); resp.StatusCode != http.StatusOK {
		t.Errorf("page at the cap: %s", resp.Status)
	}
	// Once one leaves, a new one gets in.
	a.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(testTimeout)
	for {
		c, _, err := ts.dial(t, "/ws/chat", bearer(testToken))
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot came free: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := ts.metric(t, "wsdeck_requests_refused_total", map[string]string{"reason": "max_conns"}); n < 1 {
		t.Error("refusals for the cap not counted")
	}
}

func TestMessageLimits(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{
		MaxMessageSize: 1024,
		Chat:           chatOptions(100),
		Socket:         socket.Options{Rate: 1, Burst: 2},
	})
	c := ts.mustDial(t, "/ws/chat")
	readMsg(t, c) // welcome
	readMsg(t, c) // own join

	// Over the chat's text limit, under the WebSocket limit: an error.
	writeMsg(t, c, map[string]string{"type": "send", "text": strings.Repeat("x", 101)})
	if m := readMsg(t, c); m["type"] != "error" || m["code"] != socket.CodeTooBig {
		t.Fatalf("%v, want a too_big error", m)
	}
	// Over the rate (burst 2, the first message took one): errors, and
	// the socket stays.
	var limited int
	for i := 0; i < 5; i++ {
		writeMsg(t, c, map[string]string{"type": "send", "text": "hi"})
	}
	for i := 0; i < 5; i++ {
		m := readMsg(t, c)
		if m["type"] == "error" && m["code"] == socket.CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Error("no message was rate limited")
	}
	if n := ts.metric(t, "wsdeck_messages_rate_limited_total", map[string]string{"endpoint": "chat"}); n != float64(limited) {
		t.Errorf("%v rate-limited messages counted, want %d", n, limited)
	}
	// Over the WebSocket limit: the connection fails with 1009.
	writeMsg(t, c, []byte(`{"type":"send","text":"`+strings.Repeat("x", 1024)+`"}`))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusMessageTooBig {
				t.Fatalf("read ended with %v, want close 1009", err)
			}
			break
		}
	}
}

func TestExecNotConfigured(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	c := ts.mustDial(t, "/ws/exec")
	if m := readMsg(t, c); m["type"] != "error" || m["code"] != socket.CodeNotConfigured {
		t.Fatalf("first message %v, want a not_configured error", m)
	}
	writeMsg(t, c, map[string]string{"type": "run", "hosts": "local", "command": "ls"})
	if m := readMsg(t, c); m["code"] != socket.CodeNotConfigured {
		t.Fatalf("reply %v, want not_configured", m)
	}
}

func TestMonitorEndpoint(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{Monitor: monitorOptions(20 * time.Millisecond)})
	c := ts.mustDial(t, "/ws/monitor")
	if m := readMsg(t, c); m["type"] != "backfill" {
		t.Fatalf("first message %v, want the backfill", m)
	}
	m := readMsg(t, c)
	s, _ := m["sample"].(map[string]any)
	if m["type"] != "sample" || s["cores"] == nil || s["mem_total"] == nil {
		t.Fatalf("second message %v, want a sample", m)
	}
	if n := ts.metric(t, "wsdeck_monitor_samples_total", nil); n < 1 {
		t.Error("samples not counted")
	}
}

// TestGracefulShutdown: every socket, whether its client reads or not,
// gets a close frame with 1001, and Serve returns within a few seconds.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{Monitor: monitorOptions(50 * time.Millisecond), CloseTimeout: 2 * time.Second})
	var conns []*websocket.Conn
	for _, path := range []string{"/ws/chat", "/ws/chat", "/ws/chat", "/ws/monitor", "/ws/monitor", "/ws/exec"} {
		c := ts.mustDial(t, path)
		readMsg(t, c) // connected for sure
		conns = append(conns, c)
	}
	// Readers for all but the last chat socket, which stalls: it will not
	// answer the close frame, and shutdown must not wait for it forever.
	stalled := ts.mustDial(t, "/ws/chat")
	codes := make(chan websocket.StatusCode, len(conns))
	for _, c := range conns {
		go func() {
			for {
				_, _, err := c.Read(context.Background())
				if err != nil {
					codes <- websocket.CloseStatus(err)
					return
				}
			}
		}()
	}

	start := time.Now()
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(DefaultShutdownTimeout + testTimeout):
		t.Fatal("Serve did not return")
	}
	took := time.Since(start)
	t.Logf("shutdown took %v", took)
	if took > DefaultShutdownTimeout+5*time.Second { // "within a few seconds", with slack for a slow machine
		t.Errorf("shutdown took %v", took)
	}
	for range conns {
		select {
		case code := <-codes:
			if code != websocket.StatusGoingAway {
				t.Errorf("a socket closed with %v, want 1001", code)
			}
		case <-time.After(testTimeout):
			t.Fatal("a socket got no close frame")
		}
	}
	// The stalled client finds the close frame when it reads at last.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		_, _, err := stalled.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Errorf("stalled socket: %v, want 1001", err)
			}
			break
		}
	}
	if _, err := net.DialTimeout("tcp", ts.Addr().String(), testTimeout); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

func TestTokensAreNeverLogged(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	cookie := ts.login(t)
	get(t, nil, ts.base+"/?token=wrong-"+testToken, nil)
	get(t, nil, ts.base+"/", bearer(testToken))
	get(t, nil, ts.base+"/", bearer("wrong-"+testToken))
	get(t, nil, ts.base+"/metrics", bearer(testToken))
	get(t, nil, ts.base+"/", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}})
	ts.dial(t, "/ws/chat?token="+testToken, nil)
	ts.dial(t, "/ws/chat", bearer("wrong-"+testToken))
	logs := ts.logs.String()
	if !strings.Contains(logs, "unauthorized") || !strings.Contains(logs, "level=DEBUG") {
		t.Fatalf("the test's requests were not logged:\n%s", logs)
	}
	for _, secret := range []string{testToken, cookie.Value} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret:\n%s", logs)
		}
	}
}

func TestRandomTokenInLoginURL(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	out := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Addr: "127.0.0.1:0", Out: out, Logger: slog.New(slog.DiscardHandler), Engine: engine.Config{StateDir: stateDir}})
	}()
	// Run prints the URL before serving; poll for it.
	deadline := time.Now().Add(testTimeout)
	var line string
	for line == "" {
		if time.Now().After(deadline) {
			t.Fatal("no login URL printed")
		}
		time.Sleep(10 * time.Millisecond)
		line = out.String()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	i := strings.Index(line, "http://127.0.0.1:")
	if i < 0 {
		t.Fatalf("printed %q, want a loopback login URL", line)
	}
	u, err := url.Parse(strings.TrimSpace(line[i:]))
	if err != nil {
		t.Fatal(err)
	}
	if tok := u.Query().Get("token"); len(tok) < 26 {
		t.Errorf("token %q: want at least 128 random bits", tok)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	ts := start(t, Config{TLSCert: certFile, TLSKey: keyFile})
	if !strings.HasPrefix(ts.base, "https://127.0.0.1:") {
		t.Fatalf("URL %s, want https", ts.base)
	}
	client := &http.Client{
		Timeout:       testTimeout,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, _ := get(t, client, ts.LoginURL(), nil)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("login over TLS: %s, cookies %v: want a Secure cookie", resp.Status, resp.Cookies())
	}
	if resp.TLS == nil || resp.ProtoMajor != 2 {
		t.Errorf("protocol %s: want HTTP/2 over TLS for a client that asks", resp.Proto)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	h := bearer(testToken)
	h.Set("Origin", ts.base)
	c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(ts.base, "https")+"/ws/chat",
		&websocket.DialOptions{HTTPHeader: h, TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if m := readMsg(t, c); m["type"] != "welcome" {
		t.Fatalf("first message %v", m)
	}
	// The http:// origin of the same host and port is another origin.
	h.Set("Origin", "http"+strings.TrimPrefix(ts.base, "https"))
	if c2, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(ts.base, "https")+"/ws/chat",
		&websocket.DialOptions{HTTPHeader: h, TLSConfig: &tls.Config{RootCAs: pool}}); err == nil {
		c2.CloseNow()
		t.Error("an http:// origin was accepted by the https:// console")
	}
}

func TestPageHeaders(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	resp, body := get(t, nil, ts.base+"/", bearer(testToken))
	if !strings.Contains(body, `<script type="module" src="/js/app.js">`) {
		t.Fatal("not the page")
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "connect-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Content-Type":            "text/html",
	} {
		if got := resp.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want it to contain %q", h, got, want)
		}
	}
	for _, p := range []string{"/js/app.js", "/vendor/echarts/echarts.esm.min.mjs", "/vendor/xterm/xterm.mjs"} {
		resp, _ := get(t, nil, ts.base+p, bearer(testToken))
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("%s: Content-Type %q, want JavaScript (modules need it)", p, ct)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", p)
			continue
		}
		h := bearer(testToken)
		h.Set("If-None-Match", etag)
		if resp, _ := get(t, nil, ts.base+p, h); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %s, want 304", p, resp.Status)
		}
	}
}

func TestMetricsCountTraffic(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	c := ts.mustDial(t, "/ws/chat")
	readMsg(t, c) // welcome
	readMsg(t, c) // join
	writeMsg(t, c, map[string]string{"type": "send", "text": "counted"})
	readMsg(t, c)
	writeMsg(t, c, "garbage")
	readMsg(t, c)
	chat := map[string]string{"endpoint": "chat"}
	if n := ts.metric(t, "wsdeck_connections", chat); n != 1 {
		t.Errorf("%v chat connections open, want 1", n)
	}
	if n := ts.metric(t, "wsdeck_messages_received_total", chat); n != 2 {
		t.Errorf("%v messages received, want 2", n)
	}
	if n := ts.metric(t, "wsdeck_messages_sent_total", chat); n != 4 {
		t.Errorf("%v messages sent, want 4 (welcome, join, message, error)", n)
	}
	if n := ts.metric(t, "wsdeck_messages_invalid_total", chat); n != 1 {
		t.Errorf("%v invalid messages, want 1", n)
	}
	if n := ts.metric(t, "wsdeck_received_bytes_total", chat); n == 0 {
		t.Error("no bytes in counted")
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Addr: "127.0.0.1:0", AllowOrigins: []string{"https://[example.com"}}); err == nil {
		t.Error("a malformed origin pattern was accepted")
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", TLSCert: "cert.pem"}); err == nil {
		t.Error("a certificate without a key was accepted")
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", TLSCert: "/nonexistent", TLSKey: "/nonexistent"}); err == nil {
		t.Error("missing certificate files were accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := New(Config{Addr: ln.Addr().String()}); err == nil {
		t.Error("listening on a taken address succeeded")
	}
	for _, tt := range []struct{ format, level string }{{"xml", "info"}, {"text", "loud"}} {
		if _, err := NewLogger(io.Discard, tt.format, tt.level); err == nil {
			t.Errorf("NewLogger(%q, %q) accepted", tt.format, tt.level)
		}
	}
	if _, err := NewLogger(io.Discard, "json", "debug"); err != nil {
		t.Error(err)
	}
}
