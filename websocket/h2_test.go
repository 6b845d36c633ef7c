package websocket

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// needXConnect skips a test whose server needs net/http's extended CONNECT,
// which GODEBUG=http2xconnect=1 turns on at start-up (main_test.go imports
// package xconnect, which sets it).
func needXConnect(t testing.TB) {
	t.Helper()
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		t.Skip("GODEBUG lacks http2xconnect=1: net/http's HTTP/2 server refuses extended CONNECT")
	}
}

// h2Server is a TLS test server speaking HTTP/2 (and HTTP/1.1), counting
// the TCP connections it accepted.
type h2Server struct {
	*httptest.Server
	conns atomic.Int32
}

func newH2Server(t testing.TB, h http.Handler, http2 bool) *h2Server {
	t.Helper()
	s := &h2Server{Server: httptest.NewUnstartedServer(h)}
	s.EnableHTTP2 = http2
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// h2Transport returns an HTTP/2 round tripper that trusts httptest's
// certificate and sends extended CONNECTs. net/http's Transport refuses the
// ":protocol" header, but the HTTP/2 transport bundled inside it takes it:
// net/http hands that out as the RoundTripper of TLSNextProto["h2"] for a
// connection, here one to seed (an HTTP/2 server). The tests stay on the
// standard library; users pass golang.org/x/net/http2's Transport.
func h2Transport(t testing.TB, seed *httptest.Server) http.RoundTripper {
	t.Helper()
	return h2RoundTripper(t, seed.Listener.Addr().String(), seed.Client().Transport.(*http.Transport).TLSClientConfig)
}

// h2RoundTripper is h2Transport for any HTTP/2 server at addr that cfg
// trusts.
func h2RoundTripper(t testing.TB, addr string, cfg *tls.Config) http.RoundTripper {
	t.Helper()
	cfg = cfg.Clone()
	t1 := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t1.CloseIdleConnections() // sets TLSNextProto up
	next := t1.TLSNextProto["h2"]
	if next == nil {
		t.Fatal("net/http set no TLSNextProto for h2")
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	tc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dialing the seed connection: %v", err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		tc.Close()
		t.Fatalf("the seed server negotiated %q, not h2", p)
	}
	rt := next(addr, tc)
	t.Cleanup(func() {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
		tc.Close()
	})
	return rt
}

func wssURL(s *httptest.Server) string { return "wss" + strings.TrimPrefix(s.URL, "https") }

// TestH2Echo: over one HTTP/2 connection, sockets with and without
// compression echo text, binary, fragmented and empty messages, answer
// pings, and close with the close handshake; the server sees each as an
// extended CONNECT on HTTP/2.
func TestH2Echo(t *testing.T) {
	needXConnect(t)
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "deflate"}[compress], func(t *testing.T) {
			opts := ConnOptions{Compression: CompressionOptions{Enabled: compress}}
			var protos sync.Map
			serverErr := make(chan error, 1)
			s := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				protos.Store(r.Proto+" "+r.Method, true)
				c, err := Accept(w, r, &AcceptOptions{ConnOptions: opts, Subprotocols: []string{"echo"}})
				if err != nil {
					serverErr <- err
					return
				}
				ctx := context.Background()
				for {
					typ, p, err := c.Read(ctx)
					if err != nil {
						serverErr <- err
						return
					}
					if err := c.Write(ctx, typ, p); err != nil {
						serverErr <- err
						return
					}
				}
			}), true)
			c, resp, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{ConnOptions: opts, HTTP2: h2Transport(t, s.Server), Subprotocols: []string{"echo"}})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
				t.Fatalf("response %s %s, want HTTP/2.0 200", resp.Proto, resp.Status)
			}
			if _, ok := protos.Load("HTTP/2.0 CONNECT"); !ok {
				t.Fatalf("the server saw no HTTP/2 CONNECT")
			}
			if c.Subprotocol() != "echo" {
				t.Errorf("Subprotocol %q, want echo", c.Subprotocol())
			}
			if got := c.deflate != nil; got != compress {
				t.Errorf("permessage-deflate agreed: %v, want %v", got, compress)
			}
			echoOnce(t, c, MessageText, []byte("hello over HTTP/2"))
			echoOnce(t, c, MessageBinary, bytes.Repeat([]byte{1, 2, 3}, 70000))
			echoOnce(t, c, MessageBinary, nil)

			// A fragmented message: three frames.
			ctx := connTestCtx(t)
			w, err := c.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range []string{"frag", "ment", "ed"} {
				if _, err := w.Write([]byte(part)); err != nil {
					t.Fatal(err)
				}
				if f, ok := w.(interface{ Flush() error }); ok {
					f.Flush()
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			readDone := make(chan error, 1)
			go func() {
				_, p, err := c.Read(ctx)
				if err == nil && string(p) != "fragmented" {
					err = errors.New("read " + string(p) + ", want fragmented")
				}
				if err == nil {
					// Keep reading, so the ping's pong is read.
					_, _, err = c.Read(ctx)
					if CloseStatus(err) == StatusNormalClosure {
						err = nil
					}
				}
				readDone <- err
			}()
			if err := c.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if err := c.Close(StatusNormalClosure, "bye"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := <-readDone; err != nil && !errors.Is(err, net.ErrClosed) {
				t.Fatalf("reading: %v", err)
			}
			if err := <-serverErr; CloseStatus(err) != StatusNormalClosure {
				t.Fatalf("server read %v, want close 1000", err)
			}
		})
	}
}

// TestH2Multiplexed: sockets dialled with one transport share one TCP+TLS
// connection.
func TestH2Multiplexed(t *testing.T) {
	needXConnect(t)
	s := newH2Server(t, echoHandler(t, nil), true)
	tr := h2Transport(t, s.Server)
	var conns []*Conn
	for range 8 {
		c, _, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{HTTP2: tr})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.CloseNow()
		conns = append(conns, c)
	}
	for i, c := range conns {
		echoOnce(t, c, MessageText, []byte(strings.Repeat("x", i)))
	}
	if n := s.conns.Load(); n != 1 { // the seed connection
		t.Fatalf("%d sockets came on %d connections, want 1", len(conns), n)
	}
	for _, c := range conns {
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestH2Fallback: a server without HTTP/2 gets an HTTP/1.1 handshake.
func TestH2Fallback(t *testing.T) {
	s := newH2Server(t, echoHandler(t, nil), false)
	seed := newH2Server(t, echoHandler(t, nil), true)
	c, resp, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{HTTP2: h2Transport(t, seed.Server),
		TLSConfig: s.Client().Transport.(*http.Transport).TLSClientConfig})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("response %s %s, want HTTP/1.1 101", resp.Proto, resp.Status)
	}
	echoOnce(t, c, MessageText, []byte("over HTTP/1.1"))
	c.Close(StatusNormalClosure, "")
}

// TestH2Refused: a refused extended CONNECT is reported with its status
// and body, without falling back; a plain HTTP/2 GET is refused.
func TestH2Refused(t *testing.T) {
	needXConnect(t)
	s := newH2Server(t, echoHandler(t, &AcceptOptions{Subprotocols: []string{"chat"}, RequireSubprotocol: true}), true)
	_, resp, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{HTTP2: h2Transport(t, s.Server)})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest || resp.ProtoMajor != 2 {
		t.Fatalf("Dial: %v, %v; want a refusal with HTTP/2 400", err, resp)
	}

	hc := &http.Client{Transport: h2Transport(t, s.Server)}
	r, err := hc.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.ProtoMajor != 2 || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain GET: %s %s, want HTTP/2.0 400", r.Proto, r.Status)
	}
}

// TestH2ConfigRefused: net/http's Transport, which cannot send the
// ":protocol" header, is refused with a message that says what to use.
func TestH2ConfigRefused(t *testing.T) {
	s := newH2Server(t, echoHandler(t, nil), true)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	_, _, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{HTTP2: tr})
	if err == nil || !strings.Contains(err.Error(), "x/net/http2") {
		t.Fatalf("Dial: %v, want the transport refused", err)
	}
}

// TestH2ReadInterrupted: a Read whose ctx ends is cut short on both sides
// of an HTTP/2 stream (a deadline of the client's own timer; net/http's
// read deadline on the server), reports ctx's error and closes the Conn.
func TestH2ReadInterrupted(t *testing.T) {
	needXConnect(t)
	serverErr := make(chan error, 1)
	var n atomic.Int32
	s := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			serverErr <- err
			return
		}
		ctx := context.Background() // the second socket: the client cuts
		if n.Add(1) == 1 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
		}
		_, _, err = c.Read(ctx)
		<-c.Done()
		serverErr <- err
	}), true)
	c, _, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{HTTP2: h2Transport(t, s.Server)})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	if err := <-serverErr; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("server Read: %v, want context.DeadlineExceeded", err)
	}

	c2, _, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{HTTP2: h2Transport(t, s.Server)})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c2.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c2.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client Read: %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-c2.Done():
	case <-connTestCtx(t).Done():
		t.Fatal("the client Conn stayed open after its read was cut")
	}
	if err := <-serverErr; err == nil {
		t.Fatal("the server's Read returned no error after the client's cut")
	}
}

// TestH2WriteInterrupted: a client Write that the stream's flow control
// holds up (the server reads nothing) is cut short when its ctx ends, and
// closes the Conn.
func TestH2WriteInterrupted(t *testing.T) {
	needXConnect(t)
	release := make(chan struct{})
	s := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-release
	}), true)
	defer close(release)
	c, _, err := Dial(connTestCtx(t), wssURL(s.Server), &DialOptions{HTTP2: h2Transport(t, s.Server)})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	big := make([]byte, 8<<20) // beyond the stream's and the connection's windows
	if err := c.Write(ctx, MessageBinary, big); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write: %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-c.Done():
	case <-connTestCtx(t).Done():
		t.Fatal("the Conn stayed open after its write was cut")
	}
}
