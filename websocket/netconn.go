package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// NetConn returns a net.Conn that reads and writes c's messages as a byte
// stream: each Write sends one message of type typ, and Read reads the
// payloads of successive messages. A message of another type fails the
// read. A close frame with StatusNormalClosure or StatusGoingAway reads as
// io.EOF. Close sends StatusNormalClosure.
//
// Deadlines apply to the underlying connection. A read deadline that
// passes interrupts Read, which can be called again (not over HTTP/2, where
// it ends the stream: see the package doc); a write deadline that
// passes cuts a frame short and so closes the connection. ctx bounds every
// read and write, as for Conn.Reader and Conn.Write.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	return &netConn{c: c, ctx: ctx, typ: typ}
}

// netConn is the net.Conn of NetConn. Reads are serialized by readMu.
type netConn struct {
	c   *Conn
	ctx context.Context
	typ MessageType

	readMu sync.Mutex
	r      io.Reader // guarded by readMu
	eof    bool      // guarded by readMu
}

func (nc *netConn) Read(p []byte) (int, error) {
	nc.readMu.Lock()
	defer nc.readMu.Unlock()
	if nc.eof {
		return 0, io.EOF
	}
	for {
		if nc.r == nil {
			typ, r, err := nc.c.Reader(nc.ctx)
			if err != nil {
				switch CloseStatus(err) {
				case StatusNormalClosure, StatusGoingAway:
					nc.eof = true
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != nc.typ {
				nc.c.Close(StatusUnsupportedData, fmt.Sprintf("expected %v, got %v", nc.typ, typ))
				return 0, fmt.Errorf("websocket: netconn: expected %v, got %v", nc.typ, typ)
			}
			nc.r = r
		}
		n, err := nc.r.Read(p)
		if errors.Is(err, io.EOF) {
			nc.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (nc *netConn) Write(p []byte) (int, error) {
	if err := nc.c.Write(nc.ctx, nc.typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (nc *netConn) Close() error {
	return nc.c.Close(StatusNormalClosure, "")
}

func (nc *netConn) LocalAddr() net.Addr                { return nc.c.LocalAddr() }
func (nc *netConn) RemoteAddr() net.Addr               { return nc.c.RemoteAddr() }
func (nc *netConn) SetDeadline(t time.Time) error      { return nc.c.nc.SetDeadline(t) }
func (nc *netConn) SetReadDeadline(t time.Time) error  { return nc.c.nc.SetReadDeadline(t) }
func (nc *netConn) SetWriteDeadline(t time.Time) error { return nc.c.nc.SetWriteDeadline(t) }
