package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// dialProxy opens a tunnel to addr through an HTTP proxy with CONNECT
// (RFC 9110 section 9.3.6). An https:// proxy is reached over TLS.
func dialProxy(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), proxy *url.URL, addr string, timeout time.Duration) (net.Conn, error) {
	var secure bool
	switch strings.ToLower(proxy.Scheme) {
	case "http", "":
	case "https":
		secure = true
	default:
		return nil, fmt.Errorf("proxy %s: scheme %q not supported (http and https are)", proxy.Redacted(), proxy.Scheme)
	}
	port := proxy.Port()
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	nc, err := dial(ctx, "tcp", net.JoinHostPort(proxy.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	if secure {
		tc := tls.Client(nc, &tls.Config{ServerName: proxy.Hostname(), NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
		}
		nc = tc
	}
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	err = connect(nc, proxy, addr)
	if !stop() {
		err = context.Cause(ctx)
	} else if isTimeout(err) {
		<-ctx.Done() // the deadline that passed is ctx's; see clientHandshake
		err = context.Cause(ctx)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("proxy %s: %w", proxy.Redacted(), err)
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

func connect(nc net.Conn, proxy *url.URL, addr string) error {
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if u := proxy.User; u != nil {
		pw, _ := u.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)) + "\r\n"
	}
	req += "\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		return err
	}
	// Read the response a byte at a time so that nothing past it is taken
	// from the tunnel.
	br := bufio.NewReaderSize(&byteReader{nc}, 16)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return fmt.Errorf("reading the CONNECT response: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("CONNECT %s: %s", addr, resp.Status)
	}
	return nil
}

// byteReader reads at most one byte per call.
type byteReader struct{ r net.Conn }

func (b *byteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return b.r.Read(p)
}
