package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rfcKey and rfcAccept are the example of RFC 6455 section 1.3.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// handshakeRequest returns a valid client handshake for target.
func handshakeRequest(target string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", rfcKey)
	return r
}

func TestAcceptKey(t *testing.T) {
	if got := acceptKey(rfcKey); got != rfcAccept {
		t.Errorf("acceptKey(%q) = %q, want %q", rfcKey, got, rfcAccept)
	}
	if got := wireAccept(rfcKey); got != rfcAccept {
		t.Errorf("the tests' own wireAccept(%q) = %q, want %q", rfcKey, got, rfcAccept)
	}
}

func TestAcceptCheckRequest(t *testing.T) {
	t.Parallel()
	set := func(k string, v ...string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Del(k)
			for _, s := range v {
				r.Header.Add(k, s)
			}
		}
	}
	origin := func(o string) func(*http.Request) { return set("Origin", o) }
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name       string
		target     string // default http://example.com/chat
		mod        func(*http.Request)
		opts       *AcceptOptions
		wantStatus int // 101: accepted
		wantHeader http.Header
		wantProto  string
	}{
		{name: "valid", wantStatus: 101},

		// Method and version.
		{name: "POST", mod: func(r *http.Request) { r.Method = http.MethodPost },
			wantStatus: 405, wantHeader: http.Header{"Allow": {"GET"}}},
		{name: "HEAD", mod: func(r *http.Request) { r.Method = http.MethodHead },
			wantStatus: 405, wantHeader: http.Header{"Allow": {"GET"}}},
		{name: "HTTP/1.0", mod: func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0 },
			wantStatus: 400},
		{name: "HTTP/2", mod: func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0 },
			wantStatus: 400},

		// Connection and Upgrade.
		{name: "Connection list", mod: set("Connection", "keep-alive, Upgrade"), wantStatus: 101},
		{name: "Connection lower case", mod: set("Connection", "upgrade"), wantStatus: 101},
		{name: "Connection in two headers", mod: set("Connection", "keep-alive", "UPGRADE"), wantStatus: 101},
		{name: "Connection without upgrade", mod: set("Connection", "keep-alive"),
			wantStatus: 426, wantHeader: http.Header{"Upgrade": {"websocket"}}},
		{name: "Connection missing", mod: set("Connection"), wantStatus: 426},
		{name: "Connection token inside another", mod: set("Connection", "upgrades"), wantStatus: 426},
		{name: "Upgrade mixed case", mod: set("Upgrade", "WebSocket"), wantStatus: 101},
		{name: "Upgrade list", mod: set("Upgrade", "h2c, websocket"), wantStatus: 101},
		{name: "Upgrade other", mod: set("Upgrade", "h2c"),
			wantStatus: 426, wantHeader: http.Header{"Upgrade": {"websocket"}}},
		{name: "Upgrade missing", mod: set("Upgrade"), wantStatus: 426},

		// Sec-WebSocket-Version.
		{name: "version 8", mod: set("Sec-WebSocket-Version", "8"),
			wantStatus: 426, wantHeader: http.Header{"Sec-Websocket-Version": {"13"}}},
		{name: "version missing", mod: set("Sec-WebSocket-Version"),
			wantStatus: 426, wantHeader: http.Header{"Sec-Websocket-Version": {"13"}}},
		{name: "version twice", mod: set("Sec-WebSocket-Version", "13", "13"), wantStatus: 426},
		{name: "version list", mod: set("Sec-WebSocket-Version", "13, 8"), wantStatus: 426},

		// Sec-WebSocket-Key.
		{name: "key of 15 bytes", mod: set("Sec-WebSocket-Key", b64(15)), wantStatus: 400},
		{name: "key of 17 bytes", mod: set("Sec-WebSocket-Key", b64(17)), wantStatus: 400},
		{name: "key of 16 bytes", mod: set("Sec-WebSocket-Key", b64(16)), wantStatus: 101},
		{name: "key not base64", mod: set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ!!"), wantStatus: 400},
		{name: "key unpadded", mod: set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"), wantStatus: 400},
		{name: "key missing", mod: set("Sec-WebSocket-Key"), wantStatus: 400},
		{name: "two keys", mod: set("Sec-WebSocket-Key", rfcKey, rfcKey), wantStatus: 400},

		// Subprotocols: the server's order of preference wins.
		{name: "subprotocol server's preference", mod: set("Sec-WebSocket-Protocol", "superchat, chat"),
			opts: &AcceptOptions{Subprotocols: []string{"chat", "superchat"}}, wantStatus: 101, wantProto: "chat"},
		{name: "subprotocol in two headers", mod: set("Sec-WebSocket-Protocol", "v1", "v2"),
			opts: &AcceptOptions{Subprotocols: []string{"v2"}}, wantStatus: 101, wantProto: "v2"},
		{name: "subprotocol no match", mod: set("Sec-WebSocket-Protocol", "v1"),
			opts: &AcceptOptions{Subprotocols: []string{"v2"}}, wantStatus: 101, wantProto: ""},
		{name: "subprotocol none offered", opts: &AcceptOptions{Subprotocols: []string{"v2"}}, wantStatus: 101},
		{name: "subprotocol no match required", mod: set("Sec-WebSocket-Protocol", "v1"),
			opts: &AcceptOptions{Subprotocols: []string{"v2"}, RequireSubprotocol: true}, wantStatus: 400},
		{name: "subprotocol none offered required",
			opts: &AcceptOptions{Subprotocols: []string{"v2"}, RequireSubprotocol: true}, wantStatus: 400},
		{name: "subprotocol match required", mod: set("Sec-WebSocket-Protocol", "v1, v2"),
			opts: &AcceptOptions{Subprotocols: []string{"v2"}, RequireSubprotocol: true}, wantStatus: 101, wantProto: "v2"},

		// Origin.
		{name: "origin none", wantStatus: 101},
		{name: "origin same", mod: origin("http://example.com"), wantStatus: 101},
		{name: "origin same other case", mod: origin("HTTP://Example.COM"), wantStatus: 101},
		{name: "origin default port explicit", mod: origin("http://example.com:80"), wantStatus: 101},
		{name: "host default port explicit", target: "http://example.com:80/chat", mod: origin("http://example.com"), wantStatus: 101},
		{name: "origin same port", target: "http://example.com:8080/", mod: origin("http://example.com:8080"), wantStatus: 101},
		{name: "origin other host", mod: origin("http://evil.com"), wantStatus: 403},
		{name: "origin host suffix", mod: origin("http://example.com.evil.com"), wantStatus: 403},
		{name: "origin other port", mod: origin("http://example.com:8080"), wantStatus: 403},
		{name: "origin port missing", target: "http://example.com:8080/", mod: origin("http://example.com"), wantStatus: 403},
		{name: "origin https to plain server", mod: origin("https://example.com"), wantStatus: 403},
		{name: "origin https to plain server port 443", target: "http://example.com:443/", mod: origin("https://example.com"), wantStatus: 403},
		{name: "origin null", mod: origin("null"), wantStatus: 403},
		{name: "origin tls same", target: "https://example.com/", mod: origin("https://example.com"), wantStatus: 101},
		{name: "origin tls default port", target: "https://example.com/", mod: origin("https://example.com:443"), wantStatus: 101},
		{name: "origin http to tls server", target: "https://example.com/", mod: origin("http://example.com"), wantStatus: 403},
		{name: "pattern host", mod: origin("https://other.com"),
			opts: &AcceptOptions{OriginPatterns: []string{"other.com"}}, wantStatus: 101},
		{name: "pattern host mismatch", mod: origin("https://another.com"),
			opts: &AcceptOptions{OriginPatterns: []string{"other.com"}}, wantStatus: 403},
		{name: "pattern host with port", mod: origin("https://other.com:8443"),
			opts: &AcceptOptions{OriginPatterns: []string{"other.com:8443"}}, wantStatus: 101},
		{name: "pattern host with port mismatch", mod: origin("https://other.com"),
			opts: &AcceptOptions{OriginPatterns: []string{"other.com:8443"}}, wantStatus: 403},
		{name: "pattern wildcard", mod: origin("https://app.example.org"),
			opts: &AcceptOptions{OriginPatterns: []string{"*.example.org"}}, wantStatus: 101},
		{name: "pattern wildcard case", mod: origin("https://APP.Example.org"),
			opts: &AcceptOptions{OriginPatterns: []string{"*.EXAMPLE.org"}}, wantStatus: 101},
		{name: "pattern wildcard apex", mod: origin("https://example.org"),
			opts: &AcceptOptions{OriginPatterns: []string{"*.example.org"}}, wantStatus: 403},
		{name: "pattern wildcard suffix attack", mod: origin("https://app.example.org.evil.com"),
			opts: &AcceptOptions{OriginPatterns: []string{"*.example.org"}}, wantStatus: 403},
		{name: "pattern full", mod: origin("https://app.example.org"),
			opts: &AcceptOptions{OriginPatterns: []string{"https://*.example.org"}}, wantStatus: 101},
		{name: "pattern full scheme mismatch", mod: origin("http://app.example.org"),
			opts: &AcceptOptions{OriginPatterns: []string{"https://*.example.org"}}, wantStatus: 403},
		{name: "pattern full port", mod: origin("https://app.example.org:8443"),
			opts: &AcceptOptions{OriginPatterns: []string{"https://*.example.org:8443"}}, wantStatus: 101},
		{name: "pattern full port mismatch", mod: origin("https://app.example.org:9443"),
			opts: &AcceptOptions{OriginPatterns: []string{"https://*.example.org:8443"}}, wantStatus: 403},
		{name: "pattern second of several", mod: origin("https://b.test"),
			opts: &AcceptOptions{OriginPatterns: []string{"a.test", "b.test"}}, wantStatus: 101},
		{name: "pattern malformed", mod: origin("https://b.test"),
			opts: &AcceptOptions{OriginPatterns: []string{"[b.test"}}, wantStatus: 403},
		{name: "insecure skip origin check", mod: origin("https://evil.com"),
			opts: &AcceptOptions{InsecureSkipOriginCheck: true}, wantStatus: 101},
		{name: "insecure skip origin check null", mod: origin("null"),
			opts: &AcceptOptions{InsecureSkipOriginCheck: true}, wantStatus: 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := tt.target
			if target == "" {
				target = "http://example.com/chat"
			}
			newReq := func() *http.Request {
				r := handshakeRequest(target)
				if tt.mod != nil {
					tt.mod(r)
				}
				return r
			}
			o := acceptOptions(tt.opts)
			hs, herr := checkRequest(newReq(), &o)
			if tt.wantStatus == 101 {
				if herr != nil {
					t.Fatalf("checkRequest refused the handshake: %v", herr)
				}
				if tt.mod == nil && hs.accept != rfcAccept {
					t.Errorf("accept = %q, want %q", hs.accept, rfcAccept)
				}
				if hs.accept != wireAccept(newReq().Header.Get("Sec-WebSocket-Key")) {
					t.Errorf("accept = %q, does not match the key", hs.accept)
				}
				if hs.subprotocol != tt.wantProto {
					t.Errorf("subprotocol = %q, want %q", hs.subprotocol, tt.wantProto)
				}
				return
			}
			if herr == nil {
				t.Fatalf("checkRequest accepted the handshake, want %d", tt.wantStatus)
			}
			if herr.status != tt.wantStatus {
				t.Errorf("checkRequest: status %d (%v), want %d", herr.status, herr, tt.wantStatus)
			}

			// Accept writes the refusal.
			rec := httptest.NewRecorder()
			c, err := Accept(rec, newReq(), tt.opts)
			if err == nil || c != nil {
				t.Fatalf("Accept = %v, %v; want an error", c, err)
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("Accept wrote status %d, want %d", rec.Code, tt.wantStatus)
			}
			for k, v := range tt.wantHeader {
				if got := headerValuesFold(rec.Header(), k); strings.Join(got, ",") != strings.Join(v, ",") {
					t.Errorf("response header %s = %q, want %q", k, got, v)
				}
			}
			if !strings.HasPrefix(rec.Body.String(), "websocket: ") {
				t.Errorf("response body %q does not say why", rec.Body.String())
			}
		})
	}
}

// TestAcceptHandshakeResponse checks the 101 a real server sends: the
// Sec-WebSocket-Accept of the RFC's example, the chosen subprotocol, and
// headers from the ResponseWriter and ResponseHeader, which cannot replace
// those the handshake sets.
func TestAcceptHandshakeResponse(t *testing.T) {
	t.Parallel()
	opts := &AcceptOptions{
		Subprotocols: []string{"chat"},
		ResponseHeader: http.Header{
			"X-From-Options":       {"o"},
			"Upgrade":              {"h2c"},
			"Sec-WebSocket-Accept": {"bogus-literal"}, // not canonical
		},
	}
	opts.ResponseHeader.Set("Connection", "close")
	opts.ResponseHeader.Add("Sec-WebSocket-Accept", "bogus-canonical")
	opts.ResponseHeader.Set("Sec-WebSocket-Protocol", "other")
	done := make(chan error, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-From-Writer", "w")
		w.Header().Set("Set-Cookie", "a=b")
		w.Header().Set("Sec-WebSocket-Accept", "bogus-writer")
		w.Header().Set("Upgrade", "h2c")
		c, err := Accept(w, r, opts)
		if err == nil {
			c.CloseNow()
		}
		done <- err
	}))
	defer ts.Close()

	nc, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(connTestTimeout))
	io.WriteString(nc, wireRequest(ts.Listener.Addr().String(), rfcKey, "Sec-WebSocket-Protocol: other, chat\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %s, want 101", resp.Status)
	}
	want := map[string][]string{
		"Upgrade":                {"websocket"},
		"Connection":             {"Upgrade"},
		"Sec-Websocket-Accept":   {rfcAccept},
		"Sec-Websocket-Protocol": {"chat"},
		"X-From-Options":         {"o"},
		"X-From-Writer":          {"w"},
		"Set-Cookie":             {"a=b"},
	}
	for k, v := range want {
		if got := resp.Header.Values(k); strings.Join(got, "|") != strings.Join(v, "|") {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	for k, v := range resp.Header {
		if strings.EqualFold(k, "Sec-WebSocket-Accept") && k != "Sec-Websocket-Accept" {
			t.Errorf("extra header %s: %q", k, v)
		}
	}
}

// TestAcceptFirstBytes sends a frame right behind the handshake request,
// in the same write, and after it before the handler calls Accept: net/http
// has read those bytes already, and Accept must hand them to the Conn.
func TestAcceptFirstBytes(t *testing.T) {
	t.Parallel()
	t.Run("same write", func(t *testing.T) {
		t.Parallel()
		ts, ch := acceptServer(t, nil)
		first := string(encodeWire(true, 0x1, []byte("first"), []byte{1, 2, 3, 4})) +
			string(encodeWire(true, 0x2, pattern(1, 3000, false), []byte{5, 6, 7, 8}))
		wireDial(t, ts.Listener.Addr().String(), first)
		c := recvConn(t, ch)
		ctx := connTestCtx(t)
		typ, p, err := c.Read(ctx)
		if err != nil || typ != MessageText || string(p) != "first" {
			t.Fatalf("Read = %v, %q, %v; want text \"first\"", typ, p, err)
		}
		typ, p, err = c.Read(ctx)
		if err != nil || typ != MessageBinary || string(p) != string(pattern(1, 3000, false)) {
			t.Fatalf("Read = %v, %d bytes, %v; want the 3000-byte binary message", typ, len(p), err)
		}
	})
	t.Run("before Accept", func(t *testing.T) {
		t.Parallel()
		sent := make(chan struct{})
		ch := make(chan *Conn, 1)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-sent
			c, err := Accept(w, r, nil)
			if err != nil {
				t.Errorf("Accept: %v", err)
			}
			ch <- c
		}))
		defer ts.Close()
		nc, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		key := wireKey()
		io.WriteString(nc, wireRequest(ts.Listener.Addr().String(), key, ""))
		nc.Write(encodeWire(true, 0x1, []byte("early"), []byte{9, 8, 7, 6}))
		close(sent)
		nc.SetReadDeadline(time.Now().Add(connTestTimeout))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("handshake: %v %v", resp, err)
		}
		c := recvConn(t, ch)
		typ, p, err := c.Read(connTestCtx(t))
		if err != nil || typ != MessageText || string(p) != "early" {
			t.Fatalf("Read = %v, %q, %v; want text \"early\"", typ, p, err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestAcceptOriginEndToEnd checks the Origin check against a real server's
// Host, for a plain and a TLS server, through Dial.
func TestAcceptOriginEndToEnd(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := Accept(w, r, nil); err == nil {
				c.CloseNow()
			}
		})
		var ts *httptest.Server
		if secure {
			ts = quietTLSServer(handler)
		} else {
			ts = httptest.NewServer(handler)
		}
		defer ts.Close()
		var tlsConfig *tls.Config
		if secure {
			tlsConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig
		}
		host := ts.Listener.Addr().String()
		_, port, _ := net.SplitHostPort(host)
		scheme, other := "http", "https"
		if secure {
			scheme, other = "https", "http"
		}
		for _, tc := range []struct {
			origin string
			ok     bool
		}{
			{"", true},
			{scheme + "://" + host, true},
			{scheme + "://localhost:" + port, false},
			{other + "://" + host, false},
			{scheme + "://127.0.0.1:1", false},
		} {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := Dial(connTestCtx(t), wsURLOf(ts), &DialOptions{HTTPHeader: h, TLSConfig: tlsConfig})
			if tc.ok {
				if err != nil {
					t.Errorf("%s server, Origin %q: %v", scheme, tc.origin, err)
					continue
				}
				c.CloseNow()
				continue
			}
			if err == nil {
				c.CloseNow()
				t.Errorf("%s server, Origin %q: accepted, want 403", scheme, tc.origin)
				continue
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s server, Origin %q: %v, response %v; want 403", scheme, tc.origin, err, resp)
			}
		}
	}
}

// listenLoopback returns a TCP listener on 127.0.0.1, closed with the test.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

type acceptResult struct {
	c   *Conn
	r   *http.Request
	err error
}

// acceptRawOnce runs acceptRaw on the next connection of ln.
func acceptRawOnce(ln net.Listener, opts *AcceptOptions) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- acceptResult{err: err}
			return
		}
		c, r, err := acceptRaw(nc, opts, DefaultMaxHeaderBytes)
		if err != nil {
			nc.Close()
		}
		ch <- acceptResult{c, r, err}
	}()
	return ch
}

func TestAcceptConn(t *testing.T) {
	t.Parallel()
	ln := listenLoopback(t)
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		r, err := http.ReadRequest(br)
		if err != nil {
			served <- err
			return
		}
		c, err := acceptConn(nc, br, r, &AcceptOptions{Subprotocols: []string{"echo"}})
		if err != nil {
			served <- err
			return
		}
		defer c.CloseNow()
		typ, p, err := c.Read(context.Background())
		if err == nil {
			err = c.Write(context.Background(), typ, p)
		}
		if err == nil {
			_, _, err = c.Read(context.Background())
			if CloseStatus(err) == StatusNormalClosure {
				err = nil
			}
		}
		served <- err
	}()
	ctx := connTestCtx(t)
	c, _, err := Dial(ctx, "ws://"+ln.Addr().String(), &DialOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "echo" {
		t.Errorf("Subprotocol() = %q, want echo", c.Subprotocol())
	}
	if err := c.Write(ctx, MessageText, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	if typ, p, err := c.Read(ctx); err != nil || typ != MessageText || string(p) != "raw" {
		t.Fatalf("Read = %v %q %v", typ, p, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("server: %v", err)
	}
}

func TestAcceptConnRefused(t *testing.T) {
	t.Parallel()
	ln := listenLoopback(t)
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		r, err := http.ReadRequest(br)
		if err != nil {
			served <- err
			return
		}
		_, err = acceptConn(nc, br, r, nil)
		served <- err
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(connTestTimeout))
	io.WriteString(nc, strings.Replace(wireRequest("x", wireKey(), ""), "Version: 13", "Version: 8", 1))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf("response %s, Sec-WebSocket-Version %q; want 426 and 13", resp.Status, resp.Header.Get("Sec-WebSocket-Version"))
	}
	if err := <-served; err == nil {
		t.Error("acceptConn accepted version 8")
	}
}

func TestAcceptRaw(t *testing.T) {
	t.Parallel()

	t.Run("with first frame", func(t *testing.T) {
		t.Parallel()
		ln := listenLoopback(t)
		res := acceptRawOnce(ln, nil)
		w := wireDial(t, ln.Addr().String(), string(encodeWire(true, 0x1, []byte("hi"), []byte{1, 1, 2, 2})))
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.c.CloseNow()
		if r.r.URL.Path != "/" || r.r.Host != ln.Addr().String() {
			t.Errorf("request %s %s, want / for %s", r.r.Host, r.r.URL.Path, ln.Addr())
		}
		if typ, p, err := r.c.Read(connTestCtx(t)); err != nil || typ != MessageText || string(p) != "hi" {
			t.Fatalf("Read = %v %q %v", typ, p, err)
		}
		if err := r.c.Write(connTestCtx(t), MessageText, []byte("back")); err != nil {
			t.Fatal(err)
		}
		if f := w.readFrameT(t); f.op != 0x1 || string(f.payload) != "back" || f.masked {
			t.Errorf("got %v %q, want an unmasked text frame \"back\"", f, f.payload)
		}
	})

}

// headerValuesFold returns the values of every key of h equal to k under
// case folding: on the wire, the key's case does not matter.
func headerValuesFold(h http.Header, k string) []string {
	var out []string
	for hk, v := range h {
		if strings.EqualFold(hk, k) {
			out = append(out, v...)
		}
	}
	return out
}
