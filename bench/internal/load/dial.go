package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Dialer opens WebSocket connections to one server, from source addresses
// spread over 127.0.0.2 to 127.0.0.254 so that tens of thousands of
// connections do not run out of ephemeral ports.
type Dialer struct {
	Addr string // the server, host:port
	// Deflate offers permessage-deflate without context takeover in
	// either direction, so that frames built ahead of time stay valid.
	Deflate bool
	// Header is extra handshake header lines, each ending in "\r\n".
	Header string

	next atomic.Uint32
}

// Conn is a client connection after the handshake.
type Conn struct {
	net.Conn
	// Deflate reports that the server accepted permessage-deflate.
	Deflate bool
	br      *bufio.Reader
}

const handshakeTimeout = 10 * time.Second

// Dial opens a connection to path and performs the handshake. Replies are
// read through a buffer of bufSize bytes; 0 means none is kept after the
// handshake (for connections that stay idle).
func (d *Dialer) Dial(ctx context.Context, path string, bufSize int) (*Conn, error) {
	i := d.next.Add(1)
	nd := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%253))},
		Timeout:   handshakeTimeout,
	}
	var nc net.Conn
	var err error
	for attempt := 0; ; attempt++ {
		nc, err = nd.DialContext(ctx, "tcp", d.Addr)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond << attempt)
	}
	if err != nil {
		return nil, err
	}
	c, err := d.handshake(nc, path, bufSize)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (d *Dialer) handshake(nc net.Conn, path string, bufSize int) (*Conn, error) {
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	defer nc.SetDeadline(time.Time{})
	req := "GET " + path + " HTTP/1.1\r\nHost: " + d.Addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	req += d.Header
	if d.Deflate {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	if _, err := nc.Write([]byte(req + "\r\n")); err != nil {
		return nil, err
	}
	size := bufSize
	if size < 1024 {
		size = 1024
	}
	br := bufio.NewReaderSize(nc, size)
	status, err := br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		return nil, fmt.Errorf("handshake: %q", strings.TrimSpace(status))
	}
	c := &Conn{Conn: nc}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		if strings.EqualFold(k, "Sec-WebSocket-Extensions") && strings.Contains(v, "permessage-deflate") {
			c.Deflate = true
		}
	}
	if bufSize > 0 {
		c.br = br
	} else if br.Buffered() > 0 {
		return nil, errors.New("handshake: data after the response on an idle connection")
	}
	return c, nil
}

// DialMany opens n connections to path, parallel at a time. On an error it
// closes those it opened and returns the first error.
func (d *Dialer) DialMany(ctx context.Context, n int, path string, bufSize, parallel int) ([]*Conn, error) {
	conns := make([]*Conn, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	for range min(parallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := d.Dial(ctx, path, bufSize)
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
						cancel()
					})
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		CloseAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// CloseAll closes every connection, without a close handshake: servers see
// the connection drop, as they do when a client goes away.
func CloseAll(conns []*Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
