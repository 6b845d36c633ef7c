package websocket

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WebSockets over HTTP/2 (RFC 8441). The handshake is an extended CONNECT
// (":protocol: websocket") on a stream of its own, answered with 200; it
// carries no Sec-WebSocket-Key or Sec-WebSocket-Accept. The WebSocket
// frames then flow as the stream's DATA: the request body one way, the
// response body the other. net/http speaks both sides in Go 1.26: its
// server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and passes extended
// CONNECTs to the handler when GODEBUG has http2xconnect=1 at start-up,
// and its Transport sends one (a request with Method CONNECT and a
// ":protocol" header) once the server advertised the setting.

// acceptH2 answers an RFC 8441 handshake on an HTTP/2 stream. The Conn
// lives in the stream, so the handler must not return while it is in use.
func acceptH2(w http.ResponseWriter, r *http.Request, o *AcceptOptions) (*Conn, error) {
	hs, herr := checkH2Request(r, o)
	if herr != nil {
		herr.writeTo(w)
		return nil, herr
	}
	h := w.Header()
	for k := range h {
		if reservedResponseHeaders[k] {
			delete(h, k)
		}
	}
	for k, v := range o.ResponseHeader {
		if !reservedResponseHeaders[http.CanonicalHeaderKey(k)] {
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	if hs.subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", hs.subprotocol)
	}
	if hs.extensions != "" {
		h.Set("Sec-WebSocket-Extensions", hs.extensions)
	}
	rc := http.NewResponseController(w)
	// The server's own ReadTimeout and WriteTimeout would end the stream.
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(o.HandshakeTimeout))
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("websocket: writing the HTTP/2 handshake response: %w", err)
	}
	rc.SetWriteDeadline(time.Time{})
	s := &h2Stream{
		r:      r.Body,
		w:      w,
		flush:  rc.Flush,
		setRD:  rc.SetReadDeadline,
		setWD:  rc.SetWriteDeadline,
		remote: h2Addr(r.RemoteAddr),
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local = a
	}
	c := newConn(s, nil, false, hs.subprotocol, o.ConnOptions)
	if hs.deflate != nil {
		c.deflate = newDeflateState(*hs.deflate, o.Compression)
	}
	return c, nil
}

// checkH2Request validates an extended CONNECT (RFC 8441 section 5) and
// negotiates as on HTTP/1.1.
func checkH2Request(r *http.Request, o *AcceptOptions) (handshake, *handshakeError) {
	var hs handshake
	if r.Method != http.MethodConnect {
		return hs, &handshakeError{status: http.StatusBadRequest,
			msg: "a WebSocket handshake over HTTP/2 must be an extended CONNECT (RFC 8441), not " + r.Method}
	}
	if p := r.Header.Get(":protocol"); !strings.EqualFold(p, "websocket") {
		return hs, &handshakeError{status: http.StatusBadRequest, msg: fmt.Sprintf(":protocol must be websocket, not %q", p)}
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return hs, &handshakeError{status: http.StatusBadRequest, msg: "unsupported Sec-WebSocket-Version " + strings.Join(v, ", ") + "; 13 is supported",
			header: http.Header{"Sec-WebSocket-Version": {"13"}}}
	}
	return hs, negotiate(r, o, &hs)
}

// h2Stream is an HTTP/2 stream seen as a net.Conn: reads from one body,
// writes to the other, each write flushed. Its deadlines are net/http's
// (server) or timers of its own (client), and a deadline that passes ends
// the stream: net/http offers no way to interrupt a body read and go on.
// The Conn closes itself on such a cut anyway.
type h2Stream struct {
	r      io.ReadCloser
	w      io.Writer
	flush  func() error // nil when w sends at once
	setRD  func(time.Time) error
	setWD  func(time.Time) error
	closeW func() error // ends the stream's sending side; nil on the server
	local  net.Addr
	remote net.Addr

	closeOnce sync.Once
	closed    atomic.Bool
	onClose   func() // after the body closes, or nil
}

func (s *h2Stream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && s.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

func (s *h2Stream) Write(p []byte) (int, error) {
	if s.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := s.w.Write(p)
	if err == nil && s.flush != nil {
		err = s.flush()
	}
	return n, err
}

// CloseWrite ends the sending side of the stream (END_STREAM), as the
// close handshake's linger wants. The server's side ends when its handler
// returns.
func (s *h2Stream) CloseWrite() error {
	if s.closeW == nil {
		return errors.New("websocket: an HTTP/2 server stream's sending side ends when the handler returns")
	}
	return s.closeW()
}

func (s *h2Stream) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.closeW != nil {
			s.closeW()
		}
		s.r.Close()
		if s.onClose != nil {
			s.onClose()
		}
	})
	return nil
}

func (s *h2Stream) LocalAddr() net.Addr  { return s.local }
func (s *h2Stream) RemoteAddr() net.Addr { return s.remote }

func (s *h2Stream) SetDeadline(t time.Time) error {
	return errors.Join(s.SetReadDeadline(t), s.SetWriteDeadline(t))
}
func (s *h2Stream) SetReadDeadline(t time.Time) error  { return s.setRD(t) }
func (s *h2Stream) SetWriteDeadline(t time.Time) error { return s.setWD(t) }

// h2Addr is an address net/http gave as a string.
type h2Addr string

func (a h2Addr) Network() string { return "tcp" }
func (a h2Addr) String() string  { return string(a) }

// streamDeadline is a deadline of the client's stream: when it passes, cut
// runs (once), and the stream is over.
type streamDeadline struct {
	mu      sync.Mutex
	timer   *time.Timer // guarded by mu
	expired atomic.Bool
	cut     func()
}

func (d *streamDeadline) set(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if t.IsZero() || d.expired.Load() {
		return nil
	}
	fire := func() {
		if d.expired.CompareAndSwap(false, true) {
			d.cut()
		}
	}
	if wait := time.Until(t); wait > 0 {
		d.timer = time.AfterFunc(wait, fire)
	} else {
		go fire() // cut may wait on locks the caller holds
	}
	return nil
}

func (d *streamDeadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
}

// errStreamDeadline is what reads and writes cut by a deadline return.
var errStreamDeadline = fmt.Errorf("websocket: HTTP/2 stream reset when its deadline passed: %w", os.ErrDeadlineExceeded)

// h2Body is the response body of a client stream, reporting a read cut by
// the read deadline as a timeout.
type h2Body struct {
	io.ReadCloser
	rd *streamDeadline
}

func (b *h2Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.rd.expired.Load() {
		err = errStreamDeadline
	}
	return n, err
}

// h2Pipe is the request body's writing end, reporting a write cut by the
// write deadline as a timeout.
type h2Pipe struct {
	pw *io.PipeWriter
	wd *streamDeadline
}

func (p *h2Pipe) Write(b []byte) (int, error) {
	n, err := p.pw.Write(b)
	if err != nil && p.wd.expired.Load() {
		err = errStreamDeadline
	}
	return n, err
}

// errNoExtendedConnect marks an HTTP/2 attempt that got no response: the
// server did not negotiate HTTP/2 or advertise
// SETTINGS_ENABLE_CONNECT_PROTOCOL, or could not be reached (net/http's
// errors do not tell these apart). Dial then uses HTTP/1.1.
var errNoExtendedConnect = errors.New("no WebSocket over HTTP/2")

// dialH2 opens a WebSocket as an extended CONNECT on an HTTP/2 connection
// of o.HTTP2, which it shares with the transport's other requests to the
// same host. u is the http(s) URL.
//
// The response is checked for HTTP/2: a round tripper that fell back to
// HTTP/1.1 would have sent the CONNECT as a proxy request.
func dialH2(ctx context.Context, u *url.URL, o *DialOptions) (*Conn, *http.Response, error) {
	t := o.HTTP2
	if _, ok := t.(*http.Transport); ok {
		return nil, nil, errors.New("DialOptions.HTTP2 cannot be net/http's Transport, which refuses the :protocol pseudo-header of an extended CONNECT; golang.org/x/net/http2's Transport sends it")
	}
	pr, pw := io.Pipe()
	h := make(http.Header, len(o.HTTPHeader)+4)
	for k, v := range o.HTTPHeader {
		if !reservedRequestHeaders[http.CanonicalHeaderKey(k)] {
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	h[":protocol"] = []string{"websocket"}
	h.Set("Sec-WebSocket-Version", "13")
	if len(o.Subprotocols) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(o.Subprotocols, ", "))
	}
	if o.Compression.Enabled {
		h.Set("Sec-WebSocket-Extensions", deflateOffer(&o.Compression))
	}
	if u.User != nil && h.Get("Authorization") == "" {
		pw, _ := u.User.Password()
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)))
	}
	host := u.Host
	if v := o.HTTPHeader.Get("Host"); v != "" {
		host = v
	}
	ru := *u
	ru.User = nil
	// The stream outlives ctx, which bounds the handshake only.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var local, remote net.Addr
	sctx = httptrace.WithClientTrace(sctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		local, remote = ci.Conn.LocalAddr(), ci.Conn.RemoteAddr()
	}})
	req := (&http.Request{Method: http.MethodConnect, URL: &ru, Host: host, Header: h, Body: pr}).WithContext(sctx)
	stop := context.AfterFunc(ctx, cancel)
	resp, err := t.RoundTrip(req)
	interrupted := !stop()
	if err != nil {
		cancel()
		pw.Close()
		if interrupted {
			return nil, nil, fmt.Errorf("handshake: %w", context.Cause(ctx))
		}
		// net/http's errors do not say apart a server without HTTP/2 or
		// extended CONNECT from one that cannot be reached: Dial tries
		// HTTP/1.1 after any of them.
		return nil, nil, fmt.Errorf("%w: %w", errNoExtendedConnect, err)
	}
	fail := func(err error) (*Conn, *http.Response, error) {
		resp.Body.Close()
		pw.Close()
		cancel()
		return nil, resp, err
	}
	if interrupted {
		return fail(fmt.Errorf("handshake: %w", context.Cause(ctx)))
	}
	if resp.ProtoMajor != 2 {
		return fail(fmt.Errorf("%w: the response came over %s", errNoExtendedConnect, resp.Proto))
	}
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		fail(nil)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return nil, resp, fmt.Errorf("handshake refused: %s", resp.Status)
	}
	if p := resp.Header.Values("Sec-WebSocket-Protocol"); len(p) > 0 {
		if len(p) != 1 || !contains(o.Subprotocols, p[0]) {
			return fail(fmt.Errorf("server chose subprotocol %q, which was not offered", strings.Join(p, ", ")))
		}
	}
	exts, err := parseExtensions(resp.Header)
	if err != nil {
		return fail(err)
	}
	var deflate *deflateState
	if !o.Compression.Enabled {
		if len(exts) > 0 {
			return fail(fmt.Errorf("server chose extension %q, which was not offered", exts[0].name))
		}
	} else {
		agreed, ok, err := checkDeflateResponse(exts, &o.Compression)
		if err != nil {
			return fail(err)
		}
		if ok {
			deflate = newDeflateState(agreed, o.Compression)
		}
	}
	body := resp.Body // the caller gets resp with NoBody
	rd := &streamDeadline{cut: func() { body.Close() }}
	wd := &streamDeadline{cut: func() { pr.CloseWithError(errStreamDeadline) }}
	s := &h2Stream{
		r:      &h2Body{ReadCloser: body, rd: rd},
		w:      &h2Pipe{pw: pw, wd: wd},
		setRD:  rd.set,
		setWD:  wd.set,
		closeW: pw.Close,
		local:  local,
		remote: remote,
		onClose: func() {
			rd.stop()
			wd.stop()
			cancel()
		},
	}
	if s.local == nil {
		s.local, s.remote = h2Addr(""), h2Addr(u.Host)
	}
	resp.Body = http.NoBody
	c := newConn(s, nil, true, resp.Header.Get("Sec-WebSocket-Protocol"), o.ConnOptions)
	c.deflate = deflate
	return c, resp, nil
}
