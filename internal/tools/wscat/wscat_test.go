package wscat

import (
	"bufio"
	"bytes"
	"context"
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
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/tools/echo"
	"github.com/wsdeck/wsdeck/websocket"
)

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLinesEchoed: every input line comes back, in order, even those whose
// replies arrive after the end of input started the close handshake.
func TestLinesEchoed(t *testing.T) {
	srv := httptest.NewServer(echo.Handler(echo.Config{}))
	defer srv.Close()
	var in strings.Builder
	for i := range 200 {
		in.WriteString(strings.Repeat("x", i) + "\n")
	}
	var out, errOut bytes.Buffer
	err := Run(testCtx(t), Config{URL: wsURL(srv), Stdin: strings.NewReader(in.String()), Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatalf("Run: %v (stderr %q)", err, errOut.String())
	}
	if out.String() != in.String() {
		t.Fatalf("output differs from input: got %d bytes, want %d", out.Len(), in.Len())
	}
}

// TestEchoMode: --echo sends each message back with its type until the
// server closes normally; a 1000 close exits cleanly.
func TestEchoMode(t *testing.T) {
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var echoed []string
		for _, m := range []struct {
			typ websocket.MessageType
			p   string
		}{{websocket.MessageText, "one"}, {websocket.MessageBinary, "\x00\x01two"}, {websocket.MessageText, ""}} {
			if err := c.Write(r.Context(), m.typ, []byte(m.p)); err != nil {
				t.Error(err)
				return
			}
			typ, p, err := c.Read(r.Context())
			if err != nil || typ != m.typ {
				t.Errorf("echo of %q: type %v err %v", m.p, typ, err)
				return
			}
			echoed = append(echoed, string(p))
		}
		got <- echoed
		c.Close(websocket.StatusNormalClosure, "done")
	}))
	defer srv.Close()
	err := Run(testCtx(t), Config{URL: wsURL(srv), Echo: true, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if e := <-got; strings.Join(e, "|") != "one|\x00\x01two|" {
		t.Fatalf("server got back %q", e)
	}
}

// TestAbnormalClose: a server that drops the connection, or closes with an
// error code, makes Run return ErrAbnormalClose.
func TestAbnormalClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(c *websocket.Conn)
	}{
		{"drop", func(c *websocket.Conn) { c.CloseNow() }},
		{"1011", func(c *websocket.Conn) { c.Close(websocket.StatusInternalError, "boom") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, nil)
				if err != nil {
					return
				}
				tc.close(c)
			}))
			defer srv.Close()
			pr, pw := io.Pipe()
			defer pw.Close()
			err := Run(testCtx(t), Config{URL: wsURL(srv), Stdin: pr, Stdout: io.Discard, Stderr: io.Discard})
			if !errors.Is(err, ErrAbnormalClose) {
				t.Fatalf("Run = %v, want ErrAbnormalClose", err)
			}
		})
	}
}

// TestHeadersAndSubprotocol: -H headers and --subprotocol reach the server.
func TestHeadersAndSubprotocol(t *testing.T) {
	seen := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2"}})
		if err != nil {
			return
		}
		echo.Serve(r.Context(), c)
	}))
	defer srv.Close()
	var errOut bytes.Buffer
	h := http.Header{}
	h.Set("X-Token", "abc")
	err := Run(testCtx(t), Config{URL: wsURL(srv), Header: h, Subprotocols: []string{"chat.v1", "chat.v2"},
		Stdin: strings.NewReader("hi\n"), Stdout: io.Discard, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	if got := (<-seen).Get("X-Token"); got != "abc" {
		t.Errorf("X-Token = %q", got)
	}
	if !strings.Contains(errOut.String(), "subprotocol chat.v2") {
		t.Errorf("stderr %q does not name the agreed subprotocol", errOut.String())
	}
}

// TestRefusedHandshake: a refused handshake reports the status and body.
func TestRefusedHandshake(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	}))
	defer srv.Close()
	err := Run(testCtx(t), Config{URL: wsURL(srv), Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "go away") {
		t.Fatalf("Run = %v, want the 403 and its body", err)
	}
}

// TestNoStatusClose: a server that closes without a status code (1005,
// a clean close in RFC 6455) ends the session cleanly, and gets our close
// frame in answer.
func TestNoStatusClose(t *testing.T) {
	srvClose := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		// Close returns nil only once our close frame answered the
		// server's.
		srvClose <- c.Close(websocket.StatusNoStatusRcvd, "")
	}))
	defer srv.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	if err := Run(testCtx(t), Config{URL: wsURL(srv), Stdin: pr, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		t.Errorf("Run = %v, want a clean end", err)
	}
	if err := <-srvClose; err != nil {
		t.Errorf("the server's Close = %v, want our close frame in answer", err)
	}
}

// TestStopped: a session stopped by its ctx (Ctrl-C) completes the close
// handshake and ends cleanly, in either mode, even when a message from the
// server comes after our close frame: the server reads our close frame
// (1000) and nothing after it, and we read the message and the server's
// close frame.
func TestStopped(t *testing.T) {
	for _, echoMode := range []bool{true, false} {
		name := "lines"
		if echoMode {
			name = "echo"
		}
		t.Run(name, func(t *testing.T) {
			var once sync.Once
			started := make(chan struct{}) // the session is under way
			start := func() { once.Do(func() { close(started) }) }
			srvErr := make(chan error, 1)
			srv := rawServer(t, func(s *rawConn) error {
				if err := s.writeFrame(0x1, []byte("one")); err != nil {
					return err
				}
				if echoMode {
					if op, p, err := s.readFrame(); err != nil || op != 0x1 || string(p) != "one" {
						return fmt.Errorf("got op %#x %q %v, want the echo of \"one\"", op, p, err)
					}
					start()
				}
				op, p, err := s.readFrame()
				if err != nil || op != 0x8 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
					return fmt.Errorf("got op %#x %x %v, want our close frame (1000)", op, p, err)
				}
				// A message sent before the server read our close.
				if err := s.writeFrame(0x1, []byte("two")); err != nil {
					return err
				}
				if err := s.writeFrame(0x8, []byte{0x03, 0xe8}); err != nil {
					return err
				}
				if op, p, err := s.readFrame(); err != io.EOF {
					return fmt.Errorf("got op %#x %q %v after the close handshake, want the end of the connection", op, p, err)
				}
				return nil
			}, srvErr)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			go func() {
				<-started
				cancel()
			}()
			pr, pw := io.Pipe() // input that never ends
			defer pw.Close()
			var out bytes.Buffer
			stdout := writerFunc(func(p []byte) (int, error) {
				out.Write(p)
				start()
				return len(p), nil
			})
			err := Run(ctx, Config{URL: wsURL(srv), Echo: echoMode, Stdin: pr, Stdout: stdout, Stderr: io.Discard})
			if err != nil {
				t.Errorf("Run = %v, want a clean end", err)
			}
			if err := <-srvErr; err != nil {
				t.Errorf("server: %v", err)
			}
			if !echoMode && out.String() != "one\ntwo\n" {
				t.Errorf("printed %q, want both messages", out.String())
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// rawConn is the server's end of a WebSocket connection driven by hand, so
// that a test can send what a websocket.Conn would not, when it would not.
type rawConn struct {
	nc net.Conn
	br *bufio.Reader
}

// rawServer serves one connection: it answers the handshake (with no
// extension) and runs serve, whose result goes to result. The server is
// closed when the test ends.
func rawServer(t *testing.T, serve func(*rawConn) error, result chan<- error) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			result <- err
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		_, err = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
		if err != nil {
			result <- err
			return
		}
		result <- serve(&rawConn{nc: nc, br: brw.Reader})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeFrame writes an unmasked frame of up to 125 bytes.
func (s *rawConn) writeFrame(op byte, p []byte) error {
	_, err := s.nc.Write(append([]byte{0x80 | op, byte(len(p))}, p...))
	return err
}

// readFrame reads a masked frame of up to 125 bytes and unmasks it. The
// end of the connection before a frame is io.EOF.
func (s *rawConn) readFrame() (op byte, p []byte, err error) {
	var h [6]byte
	if _, err := io.ReadFull(s.br, h[:2]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if h[1]&0x80 == 0 || n > 125 {
		return 0, nil, fmt.Errorf("frame header %x: want a masked frame of up to 125 bytes", h[:2])
	}
	if _, err := io.ReadFull(s.br, h[2:]); err != nil {
		return 0, nil, err
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(s.br, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= h[2+i%4]
	}
	return h[0] & 0x0f, p, nil
}
