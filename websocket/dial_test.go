package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoHandler accepts with opts and echoes messages until the connection
// ends. Its goroutine is done when the handler returns.
func echoHandler(t testing.TB, opts *AcceptOptions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
	}
}

// echoOnce writes msg on c and checks that it comes back.
func echoOnce(t testing.TB, c *Conn, typ MessageType, msg []byte) {
	t.Helper()
	ctx := connTestCtx(t)
	if err := c.Write(ctx, typ, msg); err != nil {
		t.Fatalf("Write: %v", err)
	}
	gotTyp, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if gotTyp != typ || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v of %d bytes, want %v of %d bytes", gotTyp, len(got), typ, len(msg))
	}
}

// quietTLSServer is httptest.NewTLSServer without the log of the TLS
// handshakes that tests make fail on purpose.
func quietTLSServer(h http.Handler) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	return ts
}

// tlsConfigFor trusts the certificate of an httptest TLS server; it is nil
// for a plain server.
func tlsConfigFor(ts *httptest.Server) *tls.Config {
	if ts.TLS == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return &tls.Config{RootCAs: pool}
}

func TestDialTLS(t *testing.T) {
	t.Parallel()
	ts := quietTLSServer(echoHandler(t, nil))
	defer ts.Close()
	if !strings.HasPrefix(wsURLOf(ts), "wss://") {
		t.Fatalf("URL %s", wsURLOf(ts))
	}
	c, resp, err := Dial(connTestCtx(t), wsURLOf(ts), &DialOptions{TLSConfig: tlsConfigFor(ts)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("response %s", resp.Status)
	}
	for _, n := range []int{0, 10, 20000, 100000} {
		echoOnce(t, c, MessageBinary, pattern(n, n, false))
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}

	// Without the server's certificate the handshake fails.
	if c, _, err := Dial(connTestCtx(t), wsURLOf(ts), nil); err == nil {
		c.CloseNow()
		t.Error("Dial trusted httptest's certificate without being told to")
	}
}

// TestDialHTTPS dials the http(s):// spelling of the URLs.
func TestDialHTTPS(t *testing.T) {
	t.Parallel()
	for _, ts := range []*httptest.Server{httptest.NewServer(echoHandler(t, nil)), quietTLSServer(echoHandler(t, nil))} {
		defer ts.Close()
		c, _, err := Dial(connTestCtx(t), ts.URL, &DialOptions{TLSConfig: tlsConfigFor(ts)})
		if err != nil {
			t.Errorf("Dial %s: %v", ts.URL, err)
			continue
		}
		echoOnce(t, c, MessageText, []byte("hi"))
		c.CloseNow()
	}
}

func TestDialBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://127.0.0.1/", "ws:///path", "://bad", "127.0.0.1:80"} {
		if c, _, err := Dial(connTestCtx(t), u, nil); err == nil {
			c.CloseNow()
			t.Errorf("Dial(%q) succeeded", u)
		}
	}
}

func TestDialHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		h.Set("X-Path", r.URL.RequestURI())
		got <- h
		if c, err := Accept(w, r, &AcceptOptions{InsecureSkipOriginCheck: true}); err == nil {
			c.CloseNow()
		}
	}))
	defer ts.Close()

	h := http.Header{}
	h.Set("X-Custom", "one")
	h.Add("X-Custom", "two")
	h.Set("Origin", "https://app.example")
	h.Set("Cookie", "session=s")
	// Headers the handshake sets cannot be replaced, however spelt.
	h["Sec-WebSocket-Key"] = []string{"bm90IHRoZSByZWFsIGtleQ=="}
	h["Upgrade"] = []string{"h2c"}
	h.Set("Sec-WebSocket-Version", "8")
	u := wsURLOf(ts) + "/path?q=1"
	u = strings.Replace(u, "ws://", "ws://alice:s%3Acret@", 1)
	c, _, err := Dial(connTestCtx(t), u, &DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	r := <-got
	want := map[string][]string{
		"X-Custom":              {"one", "two"},
		"Origin":                {"https://app.example"},
		"Cookie":                {"session=s"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Authorization":         {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s:cret"))},
		"X-Path":                {"/path?q=1"},
		"Host":                  {ts.Listener.Addr().String()},
	}
	for k, v := range want {
		if g := r.Values(k); strings.Join(g, "|") != strings.Join(v, "|") {
			t.Errorf("%s: %q, want %q", k, g, v)
		}
	}
	if keys := r.Values("Sec-WebSocket-Key"); len(keys) != 1 || keys[0] == "bm90IHRoZSByZWFsIGtleQ==" {
		t.Errorf("Sec-WebSocket-Key: %q, want the handshake's own", keys)
	}
}

func TestDialHostHeader(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Host
		if c, err := Accept(w, r, nil); err == nil {
			c.CloseNow()
		}
	}))
	defer ts.Close()
	c, _, err := Dial(connTestCtx(t), wsURLOf(ts), &DialOptions{HTTPHeader: http.Header{"Host": {"virtual.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	if h := <-got; h != "virtual.example" {
		t.Errorf("Host %q, want virtual.example", h)
	}
}

func TestDialSubprotocol(t *testing.T) {
	t.Parallel()
	server := &AcceptOptions{Subprotocols: []string{"a", "b"}}
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{"b", "a"}, "a"},
		{[]string{"b"}, "b"},
		{[]string{"c"}, ""},
		{nil, ""},
	} {
		srv, cli := loopbackPair(t, server, &DialOptions{Subprotocols: tc.offer})
		if cli.Subprotocol() != tc.want || srv.Subprotocol() != tc.want {
			t.Errorf("offer %q: client %q, server %q; want %q", tc.offer, cli.Subprotocol(), srv.Subprotocol(), tc.want)
		}
		srv.CloseNow()
		cli.CloseNow()
	}
}

// fakeServer answers every handshake on a loopback listener with the
// response respond makes from the request, then holds the connection until
// the client closes it.
func fakeServer(t testing.TB, respond func(r *http.Request) string) string {
	t.Helper()
	ln := listenLoopback(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if resp := respond(r); resp != "" {
					io.WriteString(nc, resp)
				}
				io.Copy(io.Discard, br)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestDialBadResponse(t *testing.T) {
	t.Parallel()
	ok := func(r *http.Request) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			wireAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n"
	}
	tests := []struct {
		name      string
		offer     []string // subprotocols
		noDeflate bool     // offer no compression
		respond   func(r *http.Request) string
		wantErr   string // in the error
		wantCode  int    // of the returned response; 0: none
		wantBody  string
	}{
		{name: "valid", respond: func(r *http.Request) string { return ok(r) + "\r\n" }, wantCode: 101},
		{name: "valid with offered subprotocol", offer: []string{"v1", "v2"},
			respond: func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Protocol: v2\r\n\r\n" }, wantCode: 101},
		{name: "wrong accept", wantErr: "Sec-WebSocket-Accept", wantCode: 101,
			respond: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wireAccept(wireKey()) + "\r\n\r\n"
			}},
		{name: "accept of the key itself", wantErr: "Sec-WebSocket-Accept", wantCode: 101,
			respond: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + r.Header.Get("Sec-WebSocket-Key") + "\r\n\r\n"
			}},
		{name: "missing accept", wantErr: "Sec-WebSocket-Accept", wantCode: 101,
			respond: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
			}},
		{name: "two accepts", wantErr: "Sec-WebSocket-Accept", wantCode: 101,
			respond: func(r *http.Request) string {
				return ok(r) + "Sec-WebSocket-Accept: " + wireAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
			}},
		{name: "missing Upgrade", wantErr: "Upgrade", wantCode: 101,
			respond: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wireAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
			}},
		{name: "Upgrade h2c", wantErr: "Upgrade", wantCode: 101,
			respond: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wireAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
			}},
		{name: "missing Connection", wantErr: "Connection", wantCode: 101,
			respond: func(r *http.Request) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + wireAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
			}},
		{name: "404 with body", wantErr: "404", wantCode: 404, wantBody: "no such endpoint",
			respond: func(r *http.Request) string {
				return "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nno such endpoint"
			}},
		{name: "200", wantErr: "200", wantCode: 200, wantBody: "hello",
			respond: func(r *http.Request) string {
				return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
			}},
		{name: "long body cut at 1 KiB", wantErr: "503", wantCode: 503, wantBody: strings.Repeat("x", 1024),
			respond: func(r *http.Request) string {
				return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000)
			}},
		{name: "subprotocol not offered", wantErr: "subprotocol", wantCode: 101,
			respond: func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Protocol: chat\r\n\r\n" }},
		{name: "subprotocol other than offered", offer: []string{"v1"}, wantErr: "subprotocol", wantCode: 101,
			respond: func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Protocol: v2\r\n\r\n" }},
		{name: "two subprotocols", offer: []string{"v1", "v2"}, wantErr: "subprotocol", wantCode: 101,
			respond: func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Protocol: v1, v2\r\n\r\n" }},
		{name: "extension not offered", wantErr: "extension", wantCode: 101,
			respond: func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Extensions: x-unknown\r\n\r\n" }},
		{name: "deflate not offered", noDeflate: true, wantErr: "extension", wantCode: 101,
			respond: func(r *http.Request) string {
				if r.Header.Get("Sec-WebSocket-Extensions") != "" {
					return "HTTP/1.1 500 Offered an extension\r\nContent-Length: 0\r\n\r\n"
				}
				return ok(r) + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
			}},
		{name: "not HTTP", wantErr: "handshake",
			respond: func(r *http.Request) string { return "SSH-2.0-OpenSSH_9.6\r\n\r\n" }},
		{name: "closed without a response", wantErr: "handshake"}, // respond nil: hang up
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var addr string
			if tt.respond == nil {
				ln := listenLoopback(t)
				go func() {
					if nc, err := ln.Accept(); err == nil {
						http.ReadRequest(bufio.NewReader(nc))
						nc.Close()
					}
				}()
				addr = ln.Addr().String()
			} else {
				addr = fakeServer(t, tt.respond)
			}
			opts := &DialOptions{Subprotocols: tt.offer}
			opts.Compression.Enabled = !tt.noDeflate
			c, resp, err := Dial(connTestCtx(t), "ws://"+addr+"/", opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.CloseNow()
			} else {
				if err == nil {
					c.CloseNow()
					t.Fatalf("Dial succeeded, want an error about %s", tt.wantErr)
				}
				if c != nil {
					t.Errorf("Dial returned a Conn with its error")
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want it to mention %s", err, tt.wantErr)
				}
			}
			if tt.wantCode == 0 {
				if resp != nil {
					t.Errorf("response %s, want none", resp.Status)
				}
				return
			}
			if resp == nil {
				t.Fatalf("no response, want %d", tt.wantCode)
			}
			if resp.StatusCode != tt.wantCode {
				t.Errorf("response %s, want %d", resp.Status, tt.wantCode)
			}
			if tt.wantBody != "" {
				body, err := io.ReadAll(resp.Body)
				if err != nil || string(body) != tt.wantBody {
					t.Errorf("body %q (%v), want %q", body, err, tt.wantBody)
				}
			}
		})
	}
}

// silentServer accepts TCP connections and never answers, nor reads.
func silentServer(t testing.TB) string {
	t.Helper()
	ln := listenLoopback(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, nc := range conns {
				nc.Close()
			}
		}()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestDialTimeout(t *testing.T) {
	t.Parallel()
	const d = 150 * time.Millisecond
	t.Run("ctx", func(t *testing.T) {
		t.Parallel()
		addr := silentServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		start := time.Now()
		c, _, err := Dial(ctx, "ws://"+addr, nil)
		elapsed := time.Since(start)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial succeeded against a silent server")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if elapsed > d+3*time.Second {
			t.Errorf("Dial returned after %v with a ctx of %v", elapsed, d)
		}
	})
	t.Run("ctx cancelled", func(t *testing.T) {
		t.Parallel()
		addr := silentServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			c, _, err := Dial(ctx, "ws://"+addr, nil)
			if err == nil {
				c.CloseNow()
			}
			res <- err
		}()
		cancel()
		select {
		case err := <-res:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(connTestTimeout):
			t.Fatal("Dial did not return after its ctx was cancelled")
		}
	})
	t.Run("HandshakeTimeout", func(t *testing.T) {
		t.Parallel()
		addr := silentServer(t)
		start := time.Now()
		c, _, err := Dial(context.Background(), "ws://"+addr, &DialOptions{HandshakeTimeout: d})
		elapsed := time.Since(start)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial succeeded against a silent server")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if elapsed < d || elapsed > d+3*time.Second {
			t.Errorf("Dial returned after %v with a HandshakeTimeout of %v", elapsed, d)
		}
	})
	t.Run("proxy", func(t *testing.T) {
		t.Parallel()
		proxy := &url.URL{Scheme: "http", Host: silentServer(t)}
		start := time.Now()
		c, _, err := Dial(context.Background(), "ws://127.0.0.1:1", &DialOptions{
			HandshakeTimeout: d,
			Proxy:            func(*http.Request) (*url.URL, error) { return proxy, nil },
		})
		elapsed := time.Since(start)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial succeeded through a silent proxy")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if elapsed < d || elapsed > d+3*time.Second {
			t.Errorf("Dial returned after %v with a HandshakeTimeout of %v", elapsed, d)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		addr := silentServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		c, _, err := Dial(ctx, "wss://"+addr, nil)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial succeeded against a silent server")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestDialMaxHeaderBytes(t *testing.T) {
	t.Parallel()
	respond := func(pad int) func(r *http.Request) string {
		return func(r *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				wireAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\nX-Pad: " + strings.Repeat("p", pad) + "\r\n\r\n"
		}
	}
	for _, tc := range []struct {
		name  string
		pad   int
		limit int
		ok    bool
	}{
		{"under the limit", 2048, 4096, true},
		{"over the limit", 4096, 1024, false},
		{"under the default", 8 << 10, 0, true},
		{"over the default", 20 << 10, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := fakeServer(t, respond(tc.pad))
			c, _, err := Dial(connTestCtx(t), "ws://"+addr, &DialOptions{MaxHeaderBytes: tc.limit})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				c.CloseNow()
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial accepted a response over the limit")
			}
			if !strings.Contains(err.Error(), "limit") {
				t.Errorf("err = %v, want it to mention the limit", err)
			}
		})
	}
}

// connectProxy is an HTTP CONNECT proxy on a loopback listener, written for
// the tests. If auth is set, it requires it as Proxy-Authorization.
type connectProxy struct {
	addr    string
	auth    string
	targets chan string // CONNECT targets, as they come

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startConnectProxy(t testing.TB, auth string) *connectProxy {
	t.Helper()
	ln := listenLoopback(t)
	p := &connectProxy{addr: ln.Addr().String(), auth: auth, targets: make(chan string, 16)}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, nc := range p.conns {
			nc.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			p.track(nc)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(nc)
			}()
		}
	}()
	return p
}

func (p *connectProxy) track(nc net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, nc)
	p.mu.Unlock()
}

func (p *connectProxy) serve(nc net.Conn) {
	defer nc.Close()
	br := bufio.NewReader(nc)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(nc, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if p.auth != "" && req.Header.Get("Proxy-Authorization") != p.auth {
		io.WriteString(nc, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
		return
	}
	p.targets <- req.Host
	target, err := net.Dial("tcp", req.Host)
	if err != nil {
		io.WriteString(nc, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	p.track(target)
	defer target.Close()
	io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		io.Copy(target, br)
		target.Close()
		nc.Close()
		close(done)
	}()
	io.Copy(nc, target)
	target.Close()
	nc.Close()
	<-done
}

func TestDialProxy(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(echoHandler(t, nil))
	defer plain.Close()
	secure := quietTLSServer(echoHandler(t, nil))
	defer secure.Close()
	creds := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:p@ss"))

	for _, tc := range []struct {
		name     string
		ts       *httptest.Server
		auth     string // required by the proxy
		userinfo string // in the proxy URL
		wantErr  string
	}{
		{name: "ws", ts: plain},
		{name: "wss", ts: secure},
		{name: "ws with credentials", ts: plain, auth: creds, userinfo: "user:p%40ss@"},
		{name: "wss with credentials", ts: secure, auth: creds, userinfo: "user:p%40ss@"},
		{name: "no credentials", ts: plain, auth: creds, wantErr: "407"},
		{name: "wrong credentials", ts: plain, auth: creds, userinfo: "user:wrong@", wantErr: "407"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startConnectProxy(t, tc.auth)
			proxyURL, err := url.Parse("http://" + tc.userinfo + p.addr)
			if err != nil {
				t.Fatal(err)
			}
			var asked *url.URL
			opts := &DialOptions{
				TLSConfig: tlsConfigFor(tc.ts),
				Proxy: func(r *http.Request) (*url.URL, error) {
					asked = r.URL
					return proxyURL, nil
				},
			}
			c, _, err := Dial(connTestCtx(t), wsURLOf(tc.ts)+"/x", opts)
			if tc.wantErr != "" {
				if err == nil {
					c.CloseNow()
					t.Fatalf("Dial succeeded, want %s", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want it to mention %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), "wrong") {
					t.Errorf("err = %v shows the proxy's password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			echoOnce(t, c, MessageText, []byte("through the proxy"))
			echoOnce(t, c, MessageBinary, pattern(3, 100000, false))
			if got := <-p.targets; got != tc.ts.Listener.Addr().String() {
				t.Errorf("proxy asked for %s, want %s", got, tc.ts.Listener.Addr())
			}
			wantScheme := "http"
			if tc.ts == secure {
				wantScheme = "https"
			}
			if asked == nil || asked.Scheme != wantScheme || asked.Host != tc.ts.Listener.Addr().String() {
				t.Errorf("Proxy was asked about %v, want %s://%s", asked, wantScheme, tc.ts.Listener.Addr())
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestDialMasking checks the frames of a client on the wire: every frame
// masked, with a fresh key, and the caller's buffer left as it was.
func TestDialMasking(t *testing.T) {
	t.Parallel()
	w, c := wireServer(t, &DialOptions{ConnOptions: ConnOptions{WriteBufferSize: 256, CloseTimeout: 100 * time.Millisecond}})
	ctx := connTestCtx(t)
	msg := pattern(7, 1000, false)
	orig := bytes.Clone(msg)
	const n = 8
	for range n {
		if err := c.Write(ctx, MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(msg, orig) {
		t.Fatal("Write changed the caller's buffer")
	}
	// A streamed message of several frames.
	mw, err := c.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	mw.Write(msg)
	mw.Write(msg)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, orig) {
		t.Fatal("Writer changed the caller's buffer")
	}

	keys := map[[4]byte]bool{}
	frames := 0
	for range n {
		f := w.readFrameT(t)
		if !f.masked || f.op != 0x2 || !f.fin || !bytes.Equal(f.payload, msg) {
			t.Fatalf("got %v, want a masked binary frame with the message", f)
		}
		keys[f.key] = true
		frames++
	}
	var streamed []byte
	for {
		f := w.readFrameT(t)
		if !f.masked {
			t.Fatalf("got unmasked %v", f)
		}
		keys[f.key] = true
		frames++
		streamed = append(streamed, f.payload...)
		if f.fin {
			break
		}
	}
	if !bytes.Equal(streamed, append(bytes.Clone(msg), msg...)) {
		t.Errorf("streamed message of %d bytes, want %d", len(streamed), 2*len(msg))
	}
	if len(keys) != frames {
		t.Errorf("%d distinct masking keys in %d frames", len(keys), frames)
	}

	// Control frames are masked too.
	read := readUntilEnd(c) // for the pong
	pinged := make(chan error, 1)
	go func() { pinged <- c.Ping(ctx) }()
	f := w.readFrameT(t)
	if !f.masked || f.op != 0x9 || len(f.payload) == 0 {
		t.Errorf("got %v, want a masked ping", f)
	}
	w.writeFrame(true, 0xA, f.payload)
	if err := <-pinged; err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := c.Close(StatusGoingAway, "bye"); err == nil {
		t.Error("Close succeeded without the peer's close frame")
	}
	if f := w.readFrameT(t); !f.masked || f.op != 0x8 || f.closeCode() != StatusGoingAway || string(f.payload[2:]) != "bye" {
		t.Errorf("got %v %q, want a masked close frame 1001 \"bye\"", f, f.payload)
	}
	<-read
}
