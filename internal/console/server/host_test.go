package server

import (
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestHostCheck(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{AllowHosts: []string{"console.example.com", ".corp.example"}})
	_, port, _ := net.SplitHostPort(ts.Addr().String())
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + port, true},
		{"127.0.0.1", true},
		{"127.9.8.7:" + port, true},
		{"localhost:" + port, true},
		{"LOCALHOST.", true},
		{"app.localhost:" + port, true},
		{"[::1]:" + port, true},
		{"[::ffff:127.0.0.1]:" + port, true},
		{"192.0.2.10:" + port, true}, // an address: no DNS to rebind
		{"[2001:db8::1]", true},
		{"console.example.com:" + port, true}, // --allow-host
		{"Console.Example.COM", true},
		{"corp.example", true}, // .corp.example: the domain
		{"a.b.corp.example:" + port, true},
		{"evil.example:" + port, false},
		{"localhost.evil.example", false},
		{"console.example.com.evil.example", false},
		{"xcorp.example", false},
		{"127.0.0.1.nip.io:" + port, false},
		{"", false},
	}
	for _, tt := range tests {
		h := bearer(testToken)
		req, err := http.NewRequest("GET", ts.base+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		req.Host = tt.host
		if tt.host == "" {
			// An HTTP/1.1 client must send Host; net/http sends the URL's
			// when req.Host is empty, so write this one by hand.
			conn, err := net.Dial("tcp", ts.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			conn.Write([]byte("GET / HTTP/1.0\r\nAuthorization: Bearer " + testToken + "\r\n\r\n"))
			buf := make([]byte, 64)
			n, _ := conn.Read(buf)
			conn.Close()
			if got := string(buf[:n]); !strings.HasPrefix(got, "HTTP/1.0 403") {
				t.Errorf("no Host: %q, want 403", got)
			}
			continue
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusForbidden
		if tt.ok {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("Host %q: %s, want %d", tt.host, resp.Status, want)
		}
	}
	// The refusal says what to do.
	req, _ := http.NewRequest("GET", ts.base+"/", nil)
	req.Host = "evil.example:" + port
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "--allow-host evil.example") {
		t.Errorf("refusal %s %q: want 403 naming --allow-host", resp.Status, body)
	}
	if n := ts.metric(t, "wsdeck_requests_refused_total", map[string]string{"reason": "host"}); n == 0 {
		t.Error("host refusals not counted")
	}
	// /healthz answers to any Host, for load balancers.
	req, _ = http.NewRequest("GET", ts.base+"/healthz", nil)
	req.Host = "backend-7.internal"
	if resp, _ := do(t, req); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with a foreign Host: %s, want 200", resp.Status)
	}
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

// TestDNSRebindingRefused: a page of evil.example whose DNS now points at
// the console opens a socket with the console's cookie (on the console's
// port, the browser sends it): Origin and Host both say evil.example, so
// the Origin check alone sees the same origin. The Host check refuses it.
func TestDNSRebindingRefused(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{})
	cookie := ts.login(t)
	_, port, _ := net.SplitHostPort(ts.Addr().String())
	h := cookieHeader(cookie)
	h.Set("Host", "evil.example:"+port)
	h.Set("Origin", "http://evil.example:"+port)
	for _, path := range []string{"/ws/chat", "/ws/exec"} {
		c, resp, err := ts.dial(t, path, h)
		if err == nil {
			c.CloseNow()
			t.Fatalf("%s: a rebound handshake was accepted", path)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %v, want 403", path, err)
		}
	}
	// The same with the console's own name gets in.
	h.Set("Host", "127.0.0.1:"+port)
	h.Set("Origin", "http://127.0.0.1:"+port)
	c, _, err := ts.dial(t, "/ws/chat", h)
	if err != nil {
		t.Fatalf("the console's own origin: %v", err)
	}
	c.CloseNow()
}

func TestHSTS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	client := &http.Client{
		Timeout:       testTimeout,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	hsts := func(ts *testServer, host string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.base+"/healthz", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Strict-Transport-Security")
	}
	ts := start(t, Config{TLSCert: certFile, TLSKey: keyFile, AllowHosts: []string{"console.example.com"}})
	if got := hsts(ts, "console.example.com"); got != "max-age=31536000" {
		t.Errorf("HSTS under TLS: %q, want max-age=31536000 (a year)", got)
	}
	// Not to loopback names: from localhost it would bind every port of
	// localhost (other programs' too) to HTTPS.
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if got := hsts(ts, host); got != "" {
			t.Errorf("HSTS to %s: %q, want none", host, got)
		}
	}
	ts = start(t, Config{TLSCert: certFile, TLSKey: keyFile, AllowHosts: []string{"console.example.com"}, HSTSMaxAge: 3600e9})
	if got := hsts(ts, "console.example.com"); got != "max-age=3600" {
		t.Errorf("HSTS with an hour: %q", got)
	}
	ts = start(t, Config{TLSCert: certFile, TLSKey: keyFile, AllowHosts: []string{"console.example.com"}, HSTSMaxAge: -1})
	if got := hsts(ts, "console.example.com"); got != "" {
		t.Errorf("HSTS turned off: %q", got)
	}
	// Without TLS, never.
	plain := start(t, Config{AllowHosts: []string{"console.example.com"}})
	req, _ := http.NewRequest("GET", plain.base+"/healthz", nil)
	req.Host = "console.example.com"
	if resp, _ := do(t, req); resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
}

func TestAllowHostErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "*.example.com", "http://example.com", "a b"} {
		if _, err := New(Config{Addr: "127.0.0.1:0", AllowHosts: []string{bad}}); err == nil {
			t.Errorf("--allow-host %q accepted", bad)
		}
	}
}
