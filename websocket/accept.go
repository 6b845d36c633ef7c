package websocket

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// AcceptOptions are the settings of the server side of the handshake. The
// zero value (or a nil pointer) means the defaults.
type AcceptOptions struct {
	// ConnOptions are the settings of the connection once established.
	ConnOptions

	// Subprotocols are the subprotocols the server speaks, in order of
	// preference: the first of them the client offers is chosen.
	Subprotocols []string
	// RequireSubprotocol refuses a handshake (400) in which no
	// subprotocol could be agreed. By default the connection goes on with
	// none.
	RequireSubprotocol bool

	// OriginPatterns widen the Origin check. A pattern with "://" is
	// matched (path.Match) against the whole origin, "https://*.example.com:8443";
	// one without is matched against the origin's host, with its port if
	// it has one, "example.com" or "*.example.com". Matching is
	// case-insensitive.
	OriginPatterns []string
	// InsecureSkipOriginCheck accepts handshakes from any origin. Without
	// it, a request with an Origin header whose scheme, host and port
	// differ from the request's own, and match no OriginPatterns, is
	// refused with 403: a browser page from another site must not be able
	// to use the user's cookies on this endpoint.
	InsecureSkipOriginCheck bool

	// ResponseHeader holds extra headers for the 101 response.
	ResponseHeader http.Header

	// HandshakeTimeout bounds writing the response. 0 means
	// DefaultHandshakeTimeout. Reading the request is net/http's
	// (http.Server's ReadHeaderTimeout and MaxHeaderBytes).
	HandshakeTimeout time.Duration
}

// Accept upgrades an HTTP request to a WebSocket connection. If the
// request is not a valid WebSocket handshake, or fails the Origin check,
// Accept writes an HTTP error response and returns an error; the handler
// should then return.
//
// Headers set on w before the call are sent in the 101 response.
//
// Over HTTP/2 (RFC 8441) the request is an extended CONNECT, answered
// with 200, and the Conn lives in the request's stream: the handler must
// not return while it is in use (wait for [Conn.Done]), as the stream
// ends when it does. net/http's server takes such requests only when
// GODEBUG has http2xconnect=1 as the program starts (Go 1.26), which
// importing package xconnect sets.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	o := acceptOptions(opts)
	if r.ProtoMajor == 2 {
		return acceptH2(w, r, &o)
	}
	hs, herr := checkRequest(r, &o)
	if herr != nil {
		herr.writeTo(w)
		return nil, herr
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "websocket: connection cannot be taken over", http.StatusInternalServerError)
		return nil, fmt.Errorf("websocket: hijack: %w", err)
	}
	// Only the bytes brw.Reader holds are kept (see readerFor): reading
	// through net/http's reader would cancel the request's context on
	// any read error, a read deadline passing included.
	return finishAccept(nc, brw.Reader, hs, w.Header(), &o)
}

// limitedReader reads up to n bytes from r, then fails; n < 0 is no limit.
type limitedReader struct {
	r   net.Conn
	n   int64
	err error // the last error from r
}

var errHeaderTooLarge = errors.New("websocket: handshake header over the limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}

func acceptOptions(opts *AcceptOptions) AcceptOptions {
	var o AcceptOptions
	if opts != nil {
		o = *opts
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return o
}

// handshakeError is a refused handshake: the HTTP status and why.
type handshakeError struct {
	status int
	msg    string
	header http.Header
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("websocket: handshake refused (%d %s): %s", e.status, http.StatusText(e.status), e.msg)
}

func (e *handshakeError) writeTo(w http.ResponseWriter) {
	for k, v := range e.header {
		w.Header()[http.CanonicalHeaderKey(k)] = v
	}
	http.Error(w, "websocket: "+e.msg, e.status)
}

// handshake is what a valid request agreed to.
type handshake struct {
	accept      string
	subprotocol string
	extensions  string            // the Sec-WebSocket-Extensions response, or ""
	deflate     *deflateAgreement // permessage-deflate, if agreed
}

// checkRequest validates a client handshake (RFC 6455 section 4.2.1) and
// the Origin, and chooses the subprotocol.
func checkRequest(r *http.Request, o *AcceptOptions) (handshake, *handshakeError) {
	var hs handshake
	bad := func(msg string) (handshake, *handshakeError) {
		return hs, &handshakeError{status: http.StatusBadRequest, msg: msg}
	}
	if r.Method != http.MethodGet {
		return hs, &handshakeError{status: http.StatusMethodNotAllowed, msg: "handshake method must be GET, not " + r.Method,
			header: http.Header{"Allow": {"GET"}}}
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return bad("handshake must be HTTP/1.1, not " + r.Proto)
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return hs, &handshakeError{status: http.StatusUpgradeRequired, msg: `"Connection" header must include "Upgrade"`,
			header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}}
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return hs, &handshakeError{status: http.StatusUpgradeRequired, msg: `"Upgrade" header must include "websocket"`,
			header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}}
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return hs, &handshakeError{status: http.StatusUpgradeRequired, msg: "unsupported Sec-WebSocket-Version " + strings.Join(v, ", ") + "; 13 is supported",
			header: http.Header{"Sec-WebSocket-Version": {"13"}}}
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return bad("request must have one Sec-WebSocket-Key header")
	}
	key := strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return bad("Sec-WebSocket-Key must be base64 of 16 bytes")
	}
	hs.accept = acceptKey(key)
	return hs, negotiate(r, o, &hs)
}

// negotiate makes the checks and choices a handshake over HTTP/1.1 and
// one over HTTP/2 share: the Origin, the subprotocol and permessage-deflate.
func negotiate(r *http.Request, o *AcceptOptions, hs *handshake) *handshakeError {
	if !o.InsecureSkipOriginCheck {
		if err := checkOrigin(r, o.OriginPatterns); err != nil {
			return &handshakeError{status: http.StatusForbidden, msg: err.Error()}
		}
	}
	hs.subprotocol = chooseSubprotocol(r.Header, o.Subprotocols)
	if hs.subprotocol == "" && o.RequireSubprotocol {
		return &handshakeError{status: http.StatusBadRequest, msg: "no common subprotocol; the server speaks " + strings.Join(o.Subprotocols, ", ")}
	}
	if o.Compression.Enabled {
		// A malformed extension list declines every extension rather
		// than failing the handshake: the connection works without.
		if offers, err := parseExtensions(r.Header); err == nil {
			if resp, agreed, ok := acceptDeflate(offers, &o.Compression); ok {
				hs.extensions = resp
				hs.deflate = &agreed
			}
		}
	}
	return nil
}

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// headerHasToken reports whether a comma-separated header has token,
// compared case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// headerTokens returns the tokens of a comma-separated header.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func chooseSubprotocol(h http.Header, server []string) string {
	offered := headerTokens(h, "Sec-WebSocket-Protocol")
	for _, s := range server {
		for _, c := range offered {
			if c == s {
				return s
			}
		}
	}
	return ""
}

// checkOrigin allows a request without an Origin header (not from a
// browser), one whose origin is the request's own (same scheme, host and
// port), and one whose origin matches a pattern.
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("malformed Origin %q", origin)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if strings.EqualFold(u.Scheme, scheme) && sameHostPort(u.Host, r.Host, scheme) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err != nil {
			return fmt.Errorf("bad origin pattern %q: %v", p, err)
		} else if ok {
			return nil
		}
	}
	return fmt.Errorf("origin %q is not allowed for host %q", origin, r.Host)
}

// sameHostPort compares two host[:port] strings, the port defaulting to
// the scheme's.
func sameHostPort(a, b, scheme string) bool {
	ah, ap := splitHostPort(a, scheme)
	bh, bp := splitHostPort(b, scheme)
	return strings.EqualFold(ah, bh) && ap == bp
}

func splitHostPort(hp, scheme string) (host, port string) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		host, port = strings.Trim(hp, "[]"), ""
	}
	if port == "" {
		port = "80"
		if scheme == "https" || scheme == "wss" {
			port = "443"
		}
	}
	return host, port
}

// finishAccept writes the 101 response and makes the Conn.
func finishAccept(nc net.Conn, br *bufio.Reader, hs handshake, h http.Header, o *AcceptOptions) (*Conn, error) {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	b.WriteString(hs.accept)
	b.WriteString("\r\n")
	if hs.subprotocol != "" {
		b.WriteString("Sec-WebSocket-Protocol: " + hs.subprotocol + "\r\n")
	}
	if hs.extensions != "" {
		b.WriteString("Sec-WebSocket-Extensions: " + hs.extensions + "\r\n")
	}
	for _, extra := range []http.Header{h, o.ResponseHeader} {
		writeHeaderExcept(&b, extra, reservedResponseHeaders)
	}
	b.WriteString("\r\n")
	nc.SetWriteDeadline(time.Now().Add(o.HandshakeTimeout))
	if _, err := nc.Write(b.Bytes()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: writing the handshake response: %w", err)
	}
	nc.SetDeadline(time.Time{})
	c := newConn(nc, br, false, hs.subprotocol, o.ConnOptions)
	if hs.deflate != nil {
		c.deflate = newDeflateState(*hs.deflate, o.Compression)
	}
	return c, nil
}

// writeHeaderExcept writes h without the keys in reserved (canonical
// keys), comparing canonical forms: a key set as a map literal,
// "Sec-WebSocket-Accept" say, is not canonical, and WriteSubset would let
// it through.
func writeHeaderExcept(w io.Writer, h http.Header, reserved map[string]bool) error {
	own := make(http.Header, len(h))
	for k, v := range h {
		if !reserved[http.CanonicalHeaderKey(k)] {
			own[k] = v
		}
	}
	return own.Write(w)
}

// reservedResponseHeaders are set by the handshake itself.
var reservedResponseHeaders = map[string]bool{
	"Upgrade":                  true,
	"Connection":               true,
	"Sec-Websocket-Accept":     true,
	"Sec-Websocket-Protocol":   true,
	"Sec-Websocket-Extensions": true,
	"Content-Length":           true,
	"Transfer-Encoding":        true,
}
