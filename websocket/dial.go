package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialOptions are the settings of the client side of the handshake. The
// zero value (or a nil pointer) means the defaults.
type DialOptions struct {
	// ConnOptions are the settings of the connection once established.
	ConnOptions

	// HTTPHeader holds extra request headers, Origin or Authorization
	// say. A Host header here replaces the URL's host in the request.
	HTTPHeader http.Header
	// Subprotocols are offered in this order.
	Subprotocols []string

	// TLSConfig configures wss:// connections. nil means the defaults;
	// ServerName defaults to the URL's host.
	TLSConfig *tls.Config

	// Proxy returns the proxy for a request, as http.Transport.Proxy
	// does; nil means http.ProxyFromEnvironment (HTTP_PROXY, HTTPS_PROXY,
	// NO_PROXY). http:// and https:// proxies are reached with CONNECT.
	// Return a nil URL for a direct connection.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext dials the TCP connection. nil means a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// HTTP2, when set, carries WebSockets over HTTP/2 (RFC 8441): each is
	// an extended CONNECT on a stream of the round tripper's connection
	// to the host, which several sockets (and other requests) share. It
	// must speak HTTP/2 only and send the ":protocol" pseudo-header, as
	// golang.org/x/net/http2.Transport does; net/http's Transport cannot
	// (Go 1.26 refuses the header name) and is refused. When the server
	// does not speak HTTP/2 or does not advertise
	// SETTINGS_ENABLE_CONNECT_PROTOCOL, or the round trip fails, Dial
	// makes an HTTP/1.1 handshake instead. TLSConfig, Proxy and
	// NetDialContext do not apply to it: its own settings do. nil means
	// HTTP/1.1 only.
	//
	// x/net/http2's Transport keeps a buffer of up to the server's
	// SETTINGS_MAX_FRAME_SIZE, at most 512 KiB, for each socket while it
	// lives (it is a request body still being sent): against net/http's
	// server, whose default is 1 MiB, a socket costs the client over half
	// a MiB unless the server sets HTTP2Config.MaxReadFrameSize lower
	// (bench/RESULTS.md).
	HTTP2 http.RoundTripper

	// HandshakeTimeout bounds the whole handshake when ctx has no earlier
	// deadline. 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxHeaderBytes bounds the size of the handshake response. 0 means
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as their WebSocket equivalents). ctx bounds the
// handshake only.
//
// The response is returned as well: on success, to see its headers; on a
// refused handshake, with up to 1 KiB of its body, so the caller can say
// why.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	ctx, cancel := context.WithTimeout(ctx, o.HandshakeTimeout)
	defer cancel()

	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: dial: %w", err)
	}
	var secure bool
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, fmt.Errorf("websocket: dial %s: scheme must be ws or wss", rawURL)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("websocket: dial %s: no host", rawURL)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)

	var h2err error
	if o.HTTP2 != nil {
		hu := *u
		hu.Scheme = "http"
		if secure {
			hu.Scheme = "https"
		}
		c, resp, err := dialH2(ctx, &hu, &o)
		if err == nil {
			return c, resp, nil
		}
		if !errors.Is(err, errNoExtendedConnect) {
			return nil, resp, fmt.Errorf("websocket: dial %s over HTTP/2: %w", rawURL, err)
		}
		h2err = err
	}

	nc, err := dialNet(ctx, u, secure, addr, &o)
	if err != nil {
		if h2err != nil {
			return nil, nil, fmt.Errorf("websocket: dial %s: %w (over HTTP/2: %w)", rawURL, err, h2err)
		}
		return nil, nil, fmt.Errorf("websocket: dial %s: %w", rawURL, err)
	}
	c, resp, err := clientHandshake(ctx, nc, u, secure, &o)
	if err != nil {
		nc.Close()
		return nil, resp, fmt.Errorf("websocket: dial %s: %w", rawURL, err)
	}
	return c, resp, nil
}

// dialNet connects to addr, through a proxy if one applies, and does the
// TLS handshake for wss.
func dialNet(ctx context.Context, u *url.URL, secure bool, addr string, o *DialOptions) (net.Conn, error) {
	dial := o.NetDialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	proxy := o.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	// The proxy is chosen as for the matching http(s) URL.
	pu := *u
	pu.Scheme = "http"
	if secure {
		pu.Scheme = "https"
	}
	proxyURL, err := proxy(&http.Request{Method: http.MethodGet, URL: &pu, Host: u.Host})
	if err != nil {
		return nil, fmt.Errorf("choosing a proxy: %w", err)
	}
	var nc net.Conn
	if proxyURL != nil {
		nc, err = dialProxy(ctx, dial, proxyURL, addr, o.HandshakeTimeout)
	} else {
		nc, err = dial(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if !secure {
		return nc, nil
	}
	cfg := &tls.Config{}
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"http/1.1"}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// clientHandshake sends the opening handshake and checks the response
// (RFC 6455 section 4.1).
func clientHandshake(ctx context.Context, nc net.Conn, u *url.URL, secure bool, o *DialOptions) (*Conn, *http.Response, error) {
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	c, resp, err := clientHandshakeIO(nc, u, secure, o)
	interrupted := !stop()
	if isTimeout(err) {
		// The deadline that passed is ctx's, whose own timer may not
		// have fired yet: report ctx's error either way.
		<-ctx.Done()
		interrupted = true
	}
	if interrupted {
		return nil, resp, fmt.Errorf("handshake: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, resp, err
	}
	nc.SetDeadline(time.Time{})
	return c, resp, nil
}

func clientHandshakeIO(nc net.Conn, u *url.URL, secure bool, o *DialOptions) (*Conn, *http.Response, error) {
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])

	host := u.Host
	if h := o.HTTPHeader.Get("Host"); h != "" {
		host = h
	}
	var b bytes.Buffer
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + host + "\r\n")
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n")
	if len(o.Subprotocols) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(o.Subprotocols, ", ") + "\r\n")
	}
	if o.Compression.Enabled {
		b.WriteString("Sec-WebSocket-Extensions: " + deflateOffer(&o.Compression) + "\r\n")
	}
	if u.User != nil && o.HTTPHeader.Get("Authorization") == "" {
		pw, _ := u.User.Password()
		b.WriteString("Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)) + "\r\n")
	}
	if err := writeHeaderExcept(&b, o.HTTPHeader, reservedRequestHeaders); err != nil {
		return nil, nil, err
	}
	b.WriteString("\r\n")
	if _, err := nc.Write(b.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("writing the handshake: %w", err)
	}

	lr := &limitedReader{r: nc, n: int64(o.MaxHeaderBytes)}
	br := bufio.NewReaderSize(lr, max(o.ReadBufferSize, defaultReadBufferSize))
	req := &http.Request{Method: http.MethodGet, URL: u}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if errors.Is(err, errHeaderTooLarge) {
			return nil, nil, fmt.Errorf("handshake response over the limit of %d bytes", o.MaxHeaderBytes)
		}
		return nil, nil, fmt.Errorf("reading the handshake response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, fmt.Errorf("handshake refused: %s", resp.Status)
	}
	resp.Body = http.NoBody
	if err := checkResponse(resp, key, o.Subprotocols); err != nil {
		return nil, resp, err
	}
	exts, err := parseExtensions(resp.Header)
	if err != nil {
		return nil, resp, err
	}
	var deflate *deflateState
	if !o.Compression.Enabled {
		if len(exts) > 0 {
			return nil, resp, fmt.Errorf("server chose extension %q, which was not offered", exts[0].name)
		}
	} else {
		agreed, ok, err := checkDeflateResponse(exts, &o.Compression)
		if err != nil {
			return nil, resp, err
		}
		if ok {
			deflate = newDeflateState(agreed, o.Compression)
		}
	}
	lr.n = -1
	c := newConn(nc, br, true, resp.Header.Get("Sec-WebSocket-Protocol"), o.ConnOptions)
	c.deflate = deflate
	return c, resp, nil
}

// checkResponse validates the server's 101 response.
func checkResponse(resp *http.Response, key string, offered []string) error {
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return errors.New(`handshake response lacks "Upgrade: websocket"`)
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return errors.New(`handshake response lacks "Connection: Upgrade"`)
	}
	if got := resp.Header.Values("Sec-WebSocket-Accept"); len(got) != 1 || got[0] != acceptKey(key) {
		return errors.New("handshake response has a wrong Sec-WebSocket-Accept")
	}
	if p := resp.Header.Values("Sec-WebSocket-Protocol"); len(p) > 0 {
		if len(p) != 1 || !contains(offered, p[0]) {
			return fmt.Errorf("server chose subprotocol %q, which was not offered", strings.Join(p, ", "))
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// reservedRequestHeaders are set by the handshake itself.
var reservedRequestHeaders = map[string]bool{
	"Host":                     true,
	"Upgrade":                  true,
	"Connection":               true,
	"Sec-Websocket-Key":        true,
	"Sec-Websocket-Version":    true,
	"Sec-Websocket-Protocol":   true,
	"Sec-Websocket-Extensions": true,
	"Content-Length":           true,
	"Transfer-Encoding":        true,
}
