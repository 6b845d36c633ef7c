package websocket

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Helpers for the connection tests: loopback pairs of Conns, and "wire"
// peers that speak RFC 6455 by hand over a real TCP connection, so that a
// test can see exactly what a Conn sends and send what a Conn never would.
// The wire encoder and parser are written from the RFC here, not taken from
// the package.

// connTestTimeout bounds anything a test waits for: a broken test fails
// instead of hanging.
const connTestTimeout = 30 * time.Second

// connTestCtx returns a context that ends after connTestTimeout or with the
// test.
func connTestCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), connTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// wsURLOf returns the ws:// (or wss://) URL of an httptest server.
func wsURLOf(ts *httptest.Server) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

// acceptServer starts an httptest server whose handler accepts every
// request with ao and hands the Conn to the test through the returned
// channel (nil when Accept failed; the error is reported to t). The server
// is closed when the test ends.
func acceptServer(t testing.TB, ao *AcceptOptions) (*httptest.Server, <-chan *Conn) {
	t.Helper()
	ch := make(chan *Conn, 16)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, ao)
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		ch <- c
	}))
	t.Cleanup(ts.Close)
	return ts, ch
}

// recvConn takes the server's Conn from an acceptServer channel.
func recvConn(t testing.TB, ch <-chan *Conn) *Conn {
	t.Helper()
	select {
	case c := <-ch:
		if c == nil {
			t.Fatal("the server did not accept the connection")
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	case <-time.After(connTestTimeout):
		t.Fatal("timed out waiting for the server's Conn")
		return nil
	}
}

// loopbackPair connects a server Conn (Accept, behind httptest) and a
// client Conn (Dial) over loopback TCP. Both are closed when the test ends.
func loopbackPair(t testing.TB, ao *AcceptOptions, do *DialOptions) (srv, cli *Conn) {
	t.Helper()
	ts, ch := acceptServer(t, ao)
	cli, _, err := Dial(connTestCtx(t), wsURLOf(ts), do)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { cli.CloseNow() })
	return recvConn(t, ch), cli
}

// wireAccept computes Sec-WebSocket-Accept as RFC 6455 section 4.2.2 says.
func wireAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// wireKey returns a fresh Sec-WebSocket-Key.
func wireKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// wireRequest returns a valid opening handshake for host with key, plus
// extra header lines (each ending in "\r\n").
func wireRequest(host, key, extra string) string {
	return "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n" + extra + "\r\n"
}

// wireConn is one end of a WebSocket connection driven by hand.
type wireConn struct {
	nc   net.Conn
	br   *bufio.Reader
	mask bool // this end plays the client: its frames are masked
}

// wireFrame is a frame as read off the wire, its payload unmasked.
type wireFrame struct {
	fin     bool
	rsv     byte
	op      byte
	masked  bool
	key     [4]byte
	payload []byte
}

func (f wireFrame) String() string {
	return fmt.Sprintf("frame op=%#x fin=%v masked=%v %d bytes", f.op, f.fin, f.masked, len(f.payload))
}

// closeCode returns the code of a close frame, 1005 if it has none.
func (f wireFrame) closeCode() StatusCode {
	if len(f.payload) < 2 {
		return StatusNoStatusRcvd
	}
	return StatusCode(binary.BigEndian.Uint16(f.payload))
}

// encodeWire returns a frame with opcode op, final if fin; key nil means
// unmasked.
func encodeWire(fin bool, op byte, payload []byte, key []byte) []byte {
	if fin {
		op |= 0x80
	}
	return rawFrame(op, payload, key)
}

// frame encodes a frame as this end sends it.
func (w *wireConn) frame(fin bool, op byte, payload []byte) []byte {
	var key []byte
	if w.mask {
		key = make([]byte, 4)
		rand.Read(key)
	}
	return encodeWire(fin, op, payload, key)
}

func (w *wireConn) writeFrame(fin bool, op byte, payload []byte) error {
	_, err := w.nc.Write(w.frame(fin, op, payload))
	return err
}

// writeClose sends a close frame with code and reason.
func (w *wireConn) writeClose(code StatusCode, reason string) error {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return w.writeFrame(true, 0x8, append(p, reason...))
}

// readFrame reads one frame, of up to 16 MiB.
func (w *wireConn) readFrame() (wireFrame, error) {
	var f wireFrame
	var b [8]byte
	if _, err := io.ReadFull(w.br, b[:2]); err != nil {
		return f, err
	}
	f.fin = b[0]&0x80 != 0
	f.rsv = b[0] & 0x70
	f.op = b[0] & 0x0f
	f.masked = b[1]&0x80 != 0
	n := uint64(b[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(w.br, b[:2]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(w.br, b[:8]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:8])
	}
	if f.masked {
		if _, err := io.ReadFull(w.br, f.key[:]); err != nil {
			return f, err
		}
	}
	if n > 16<<20 {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(w.br, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= f.key[i%4]
		}
	}
	return f, nil
}

// readFrameT reads a frame within connTestTimeout, failing t on error.
func (w *wireConn) readFrameT(t testing.TB) wireFrame {
	t.Helper()
	w.nc.SetReadDeadline(time.Now().Add(connTestTimeout))
	defer w.nc.SetReadDeadline(time.Time{})
	f, err := w.readFrame()
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// expectEOF reads until the connection ends, failing t if a frame comes
// first or the end does not come in time.
func (w *wireConn) expectEOF(t testing.TB) {
	t.Helper()
	w.nc.SetReadDeadline(time.Now().Add(connTestTimeout))
	f, err := w.readFrame()
	if err == nil {
		t.Fatalf("got %v, want the end of the connection", f)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection did not end: %v", err)
	}
}

// wireClient connects a hand-driven client to an acceptServer and returns
// it with the server's Conn.
func wireClient(t testing.TB, ao *AcceptOptions) (*wireConn, *Conn) {
	t.Helper()
	ts, ch := acceptServer(t, ao)
	w := wireDial(t, ts.Listener.Addr().String(), "")
	return w, recvConn(t, ch)
}

// wireDial opens a TCP connection to addr and does the client's handshake
// by hand, sending first (the request and first bytes in one write).
func wireDial(t testing.TB, addr, first string) *wireConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	key := wireKey()
	if _, err := io.WriteString(nc, wireRequest(addr, key, "")+first); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(connTestTimeout))
	resp, err := http.ReadResponse(br, nil)
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != wireAccept(key) {
		t.Fatalf("handshake response: %s, Sec-WebSocket-Accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return &wireConn{nc: nc, br: br, mask: true}
}

// wireServer starts a loopback listener that answers one handshake by
// hand, dials it with do, and returns the hand-driven server with the
// client's Conn.
func wireServer(t testing.TB, do *DialOptions) (*wireConn, *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *wireConn, 1)
	go func() {
		defer close(ch)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(nc)
		nc.SetReadDeadline(time.Now().Add(connTestTimeout))
		req, err := http.ReadRequest(br)
		nc.SetReadDeadline(time.Time{})
		if err != nil {
			nc.Close()
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+wireAccept(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		ch <- &wireConn{nc: nc, br: br}
	}()
	c, _, err := Dial(connTestCtx(t), "ws://"+ln.Addr().String(), do)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	w := <-ch
	if w == nil {
		t.Fatal("the wire server did not complete the handshake")
	}
	t.Cleanup(func() { w.nc.Close() })
	return w, c
}

// waitDone waits for c to be closed, failing t if it is not within d.
func waitDone(t testing.TB, c *Conn, d time.Duration) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(d):
		t.Fatalf("the connection is still open after %v", d)
	}
}

// isOpen reports whether c has not been closed.
func isOpen(c *Conn) bool {
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

// pattern returns n bytes that depend on seed and position, so that a
// message cut, shifted or mixed with another does not compare equal. With
// text set they are printable ASCII.
func pattern(seed, n int, text bool) []byte {
	b := make([]byte, n)
	for i := range b {
		v := byte(seed*131 + i*7 + i>>8)
		if text {
			v = 'a' + v%26
		}
		b[i] = v
	}
	return b
}
