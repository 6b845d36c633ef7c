package websocket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Bad input over real TCP: a server on 127.0.0.1 that accepts and echoes,
// and a client that does the handshake by hand and then sends what a peer
// must not. Each case checks the close frame the server sends, the error
// its Read reports, that it does so within badInputTimeout, and that the
// server then still serves a well-behaved client.

// badInputTimeout bounds every wait: a server that hangs on bad input
// fails the test instead of hanging it.
const badInputTimeout = 5 * time.Second

// The handshake key of RFC 6455 section 1.3, and its accept value.
const (
	rawHandshakeKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rawHandshakeAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// echoTestServer is an httptest server whose handler accepts, echoes
// every message, and reports the error that ended each connection.
type echoTestServer struct {
	*httptest.Server
	errs chan error // one per accepted connection

	handlers sync.WaitGroup
	mu       sync.Mutex
	conns    map[*Conn]bool // guarded by mu
}

func startEchoTestServer(t *testing.T, opts *AcceptOptions) *echoTestServer {
	s := &echoTestServer{errs: make(chan error, 16), conns: make(map[*Conn]bool)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		defer s.handlers.Done()
		c, err := Accept(w, r, opts)
		if err != nil {
			return // the test checks the HTTP response
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.errs <- echoLoop(c)
		c.CloseNow()
	}))
	s.Start()
	t.Cleanup(func() {
		// Close waits for the handlers that have not hijacked their
		// connection; the others are ended by closing their Conns.
		s.Server.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.CloseNow()
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() {
			s.handlers.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(badInputTimeout):
			t.Error("the server's handlers did not return")
		}
	})
	return s
}

// echoLoop echoes messages until a read fails, and returns its error.
func echoLoop(c *Conn) error {
	ctx := context.Background()
	buf := make([]byte, 0, 1<<10)
	for {
		typ, p, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		buf = p
	}
}

// connErr waits for the error that ended the server's next connection.
func (s *echoTestServer) connErr(t *testing.T) error {
	t.Helper()
	return nextConnErr(t, s.errs)
}

// nextConnErr waits for an error from errs, for badInputTimeout.
func nextConnErr(t *testing.T, errs <-chan error) error {
	t.Helper()
	select {
	case err := <-errs:
		return err
	case <-time.After(badInputTimeout):
		t.Fatalf("the server's Read did not return within %v", badInputTimeout)
		return nil
	}
}

// rawHandshakeRequest returns a valid opening handshake for host.
func rawHandshakeRequest(host string) string {
	return "GET /chat HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// rawDial connects to addr over TCP, with a deadline of badInputTimeout
// on everything.
func rawDial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(badInputTimeout))
	return nc, bufio.NewReader(nc)
}

// rawWSDial connects to the server and does the opening handshake by hand.
func rawWSDial(t *testing.T, s *echoTestServer) (*net.TCPConn, *bufio.Reader) {
	t.Helper()
	addr := s.Listener.Addr().String()
	nc, br := rawDial(t, addr)
	if _, err := io.WriteString(nc, rawHandshakeRequest(addr)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != rawHandshakeAccept {
		t.Fatalf("handshake response %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return nc.(*net.TCPConn), br
}

// readUntilClose reads the server's frames up to its close frame, which
// it checks is well formed and returns. Data frames before it (echoes of
// what was valid) are skipped.
func readUntilClose(t *testing.T, br *bufio.Reader) gotFrame {
	t.Helper()
	for {
		f, err := readRawFrame(br, 4<<20)
		if err != nil {
			t.Fatalf("reading the server's close frame: %v", err)
		}
		if f.masked || f.rsv() != 0 {
			t.Fatalf("server sent a bad frame: %v rsv %#x", f, f.rsv())
		}
		if f.op() != opClose {
			continue
		}
		if !f.fin() || len(f.payload) > maxControlPayload || len(f.payload) == 1 {
			t.Fatalf("server sent a bad close frame: %v % x", f, f.payload)
		}
		if len(f.payload) > 2 && !utf8.Valid(f.payload[2:]) {
			t.Fatalf("server's close reason is not UTF-8: %q", f.payload[2:])
		}
		return f
	}
}

// expectEOF checks that the server ends the stream, with nothing more.
func expectEOF(t *testing.T, br *bufio.Reader) {
	t.Helper()
	b, err := br.ReadByte()
	if err != io.EOF {
		t.Fatalf("after the close frame: read %#x, %v; want the server to end the stream", b, err)
	}
}

// checkStillEchoes connects a well-behaved client to the echo server at
// addr, has messages echoed and closes normally; the server reports the
// end of each connection on errs.
func checkStillEchoes(t *testing.T, addr string, errs <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), badInputTimeout)
	defer cancel()
	c, _, err := Dial(ctx, "ws://"+addr, nil)
	if err != nil {
		t.Fatalf("a fresh client cannot connect: %v", err)
	}
	defer c.CloseNow()
	for _, m := range []struct {
		typ MessageType
		p   string
	}{{MessageText, "still there?"}, {MessageBinary, "\x00\xff"}} {
		if err := c.Write(ctx, m.typ, []byte(m.p)); err != nil {
			t.Fatalf("fresh client Write: %v", err)
		}
		typ, p, err := c.Read(ctx)
		if err != nil || typ != m.typ || string(p) != m.p {
			t.Fatalf("fresh client Read = %v %q, %v; want the echo %q", typ, p, err, m.p)
		}
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("fresh client Close: %v", err)
	}
	if err := nextConnErr(t, errs); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server's Read for the fresh client ended with %v, want close 1000", err)
	}
}

// badFrameCases are byte streams a client must not send after the
// handshake, the server options, and the close code the server must fail
// the connection with.
var badFrameCases = []struct {
	name string
	send []byte
	opts ConnOptions
	code StatusCode
}{
	{name: "length-2^63", send: rawHeader(bitFin|byte(opBinary), 1<<63, rawKey[:]), code: StatusProtocolError},
	{name: "length-2^64-1", send: rawHeader(bitFin|byte(opText), 1<<64-1, rawKey[:]), code: StatusProtocolError},
	{name: "unmasked-text", send: serverFrame(bitFin|byte(opText), []byte("hi")), code: StatusProtocolError},
	{name: "unmasked-ping", send: serverFrame(bitFin|byte(opPing), nil), code: StatusProtocolError},
	{name: "unmasked-close", send: serverFrame(bitFin|byte(opClose), rawClosePayload(1000, "")), code: StatusProtocolError},
	{name: "opcode-3", send: clientFrame(bitFin|0x3, []byte("x")), code: StatusProtocolError},
	{name: "opcode-7", send: clientFrame(bitFin|0x7, nil), code: StatusProtocolError},
	{name: "opcode-0xB", send: clientFrame(bitFin|0xB, []byte("x")), code: StatusProtocolError},
	{name: "opcode-0xF", send: clientFrame(bitFin|0xF, nil), code: StatusProtocolError},
	{name: "opcode-3-inside-message", send: cat(clientFrame(byte(opText), []byte("a")), clientFrame(bitFin|0x3, nil)), code: StatusProtocolError},
	{name: "rsv1", send: clientFrame(bitFin|bitRSV1|byte(opText), []byte("x")), code: StatusProtocolError},
	{name: "rsv2", send: clientFrame(bitFin|bitRSV2|byte(opBinary), []byte("x")), code: StatusProtocolError},
	{name: "rsv3", send: clientFrame(bitFin|bitRSV3|byte(opText), []byte("x")), code: StatusProtocolError},
	{name: "rsv1-on-ping", send: clientFrame(bitFin|bitRSV1|byte(opPing), nil), code: StatusProtocolError},
	{name: "rsv-on-continuation", send: cat(clientFrame(byte(opText), []byte("a")), clientFrame(bitFin|bitRSV1, []byte("b"))), code: StatusProtocolError},
	{name: "fragmented-ping", send: clientFrame(byte(opPing), []byte("p")), code: StatusProtocolError},
	{name: "fragmented-close", send: clientFrame(byte(opClose), rawClosePayload(1000, "")), code: StatusProtocolError},
	{name: "ping-126-bytes", send: clientFrame(bitFin|byte(opPing), bytes.Repeat([]byte("p"), 126)), code: StatusProtocolError},
	{name: "pong-126-bytes", send: clientFrame(bitFin|byte(opPong), bytes.Repeat([]byte("p"), 126)), code: StatusProtocolError},
	{name: "close-126-bytes", send: clientFrame(bitFin|byte(opClose), rawClosePayload(1000, strings.Repeat("r", 124))), code: StatusProtocolError},
	{name: "ping-declaring-65536", send: rawHeader(bitFin|byte(opPing), 65536, rawKey[:]), code: StatusProtocolError},
	{name: "continuation-first", send: clientFrame(bitFin|byte(opContinuation), []byte("x")), code: StatusProtocolError},
	{name: "continuation-unfinished-first", send: clientFrame(byte(opContinuation), []byte("x")), code: StatusProtocolError},
	{name: "continuation-after-message", send: cat(clientFrame(bitFin|byte(opText), []byte("a")), clientFrame(bitFin|byte(opContinuation), []byte("b"))), code: StatusProtocolError},
	{name: "text-inside-fragmented", send: cat(clientFrame(byte(opText), []byte("a")), clientFrame(bitFin|byte(opText), []byte("b"))), code: StatusProtocolError},
	{name: "binary-inside-fragmented", send: cat(clientFrame(byte(opText), []byte("a")), clientFrame(byte(opContinuation), []byte("b")), clientFrame(byte(opBinary), []byte("c"))), code: StatusProtocolError},
	// Invalid UTF-8 is caught at the fragment that holds the bad byte:
	// the rest of the message is never sent.
	{name: "utf8-invalid-first-fragment-only", send: clientFrame(byte(opText), []byte("ok\xff")), code: StatusInvalidFramePayload},
	{name: "utf8-split-across-fragments", send: cat(clientFrame(byte(opText), []byte("a\xed")), clientFrame(byte(opContinuation), []byte("\xa0\x80 more"))), code: StatusInvalidFramePayload},
	{name: "utf8-overlong-across-fragments", send: cat(clientFrame(byte(opText), []byte("\xe0")), clientFrame(byte(opContinuation), []byte("\x80"))), code: StatusInvalidFramePayload},
	{name: "utf8-truncated-at-end", send: cat(clientFrame(byte(opText), []byte("a\xc3")), clientFrame(bitFin|byte(opContinuation), nil)), code: StatusInvalidFramePayload},
	{name: "utf8-truncated-single-frame", send: clientFrame(bitFin|byte(opText), []byte("\xf0\x9f\x98")), code: StatusInvalidFramePayload},
	{name: "utf8-invalid-single-frame", send: clientFrame(bitFin|byte(opText), []byte("\xc0\x80")), code: StatusInvalidFramePayload},
	{name: "utf8-after-valid-message", send: cat(clientFrame(bitFin|byte(opText), []byte("fine")), clientFrame(bitFin|byte(opText), []byte("\xed\xa0\x80"))), code: StatusInvalidFramePayload},
	{name: "close-1-byte", send: clientFrame(bitFin|byte(opClose), []byte{0x03}), code: StatusProtocolError},
	{name: "close-0", send: clientFrame(bitFin|byte(opClose), rawClosePayload(0, "")), code: StatusProtocolError},
	{name: "close-999", send: clientFrame(bitFin|byte(opClose), rawClosePayload(999, "")), code: StatusProtocolError},
	{name: "close-1004", send: clientFrame(bitFin|byte(opClose), rawClosePayload(1004, "")), code: StatusProtocolError},
	{name: "close-1005", send: clientFrame(bitFin|byte(opClose), rawClosePayload(1005, "")), code: StatusProtocolError},
	{name: "close-1006", send: clientFrame(bitFin|byte(opClose), rawClosePayload(1006, "")), code: StatusProtocolError},
	{name: "close-1015", send: clientFrame(bitFin|byte(opClose), rawClosePayload(1015, "")), code: StatusProtocolError},
	{name: "close-2999", send: clientFrame(bitFin|byte(opClose), rawClosePayload(2999, "")), code: StatusProtocolError},
	{name: "close-5000", send: clientFrame(bitFin|byte(opClose), rawClosePayload(5000, "")), code: StatusProtocolError},
	{name: "close-invalid-utf8-reason", send: clientFrame(bitFin|byte(opClose), rawClosePayload(1000, "bye\xff")), code: StatusInvalidFramePayload},
	{name: "close-inside-message-bad-code", send: cat(clientFrame(byte(opText), []byte("a")), clientFrame(bitFin|byte(opClose), rawClosePayload(1005, ""))), code: StatusProtocolError},
	// The limit is decided from the declared length: no payload is sent.
	{name: "too-big-declared", opts: ConnOptions{MaxMessageSize: 1 << 20}, send: rawHeader(bitFin|byte(opBinary), 2<<20, rawKey[:]), code: StatusMessageTooBig},
	{name: "too-big-by-one", opts: ConnOptions{MaxMessageSize: 1000}, send: rawHeader(bitFin|byte(opBinary), 1001, rawKey[:]), code: StatusMessageTooBig},
	{name: "too-big-in-fragments", opts: ConnOptions{MaxMessageSize: 1000},
		send: cat(clientFrame(byte(opBinary), make([]byte, 600)), rawHeader(bitFin|byte(opContinuation), 401, rawKey[:])), code: StatusMessageTooBig},
	{name: "too-many-frames", opts: ConnOptions{MaxMessageFrames: 3},
		send: cat(clientFrame(byte(opText), []byte("a")), clientFrame(byte(opContinuation), []byte("b")), clientFrame(byte(opContinuation), []byte("c")), clientFrame(byte(opContinuation), []byte("d"))), code: StatusPolicyViolation},
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestBadFrames(t *testing.T) {
	t.Parallel()
	for _, tt := range badFrameCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startEchoTestServer(t, &AcceptOptions{ConnOptions: tt.opts})
			nc, br := rawWSDial(t, s)
			if _, err := nc.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			f := readUntilClose(t, br)
			if f.closeCode() != tt.code {
				t.Fatalf("server closed with %v %q, want %v", f.closeCode(), f.payload[min(2, len(f.payload)):], tt.code)
			}
			expectEOF(t, br)
			nc.Close()

			err := s.connErr(t)
			var perr ProtocolError
			if !errors.As(err, &perr) || perr.Code != tt.code {
				t.Fatalf("server's Read ended with %v, want a ProtocolError with %v", err, tt.code)
			}
			checkStillEchoes(t, s.Listener.Addr().String(), s.errs)
		})
	}
}

// TestMessageAtTheLimit is the control for the too-big cases: a message
// of exactly MaxMessageSize, in one frame or in fragments, is echoed.
func TestMessageAtTheLimit(t *testing.T) {
	t.Parallel()
	s := startEchoTestServer(t, &AcceptOptions{ConnOptions: ConnOptions{MaxMessageSize: 1000}})
	nc, br := rawWSDial(t, s)
	msg := binaryOfSize(1000)
	nc.Write(cat(
		clientFrame(bitFin|byte(opBinary), msg),
		clientFrame(byte(opBinary), msg[:600]), clientFrame(bitFin|byte(opContinuation), msg[600:]),
	))
	for range 2 {
		f, err := readRawFrame(br, 1<<20)
		if err != nil || f.op() != opBinary || !bytes.Equal(f.payload, msg) {
			t.Fatalf("echo = %v, %v; want the 1000-byte message", f, err)
		}
	}
	nc.Write(clientFrame(bitFin|byte(opClose), rawClosePayload(1000, "")))
	if f := readUntilClose(t, br); f.closeCode() != StatusNormalClosure {
		t.Fatalf("close echo %v, want 1000", f.closeCode())
	}
	if err := s.connErr(t); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server's Read ended with %v, want close 1000", err)
	}
}

// truncatedCases are streams that end inside a frame, or before one.
var truncatedCases = []struct {
	name string
	send []byte
}{
	{"nothing", nil},
	{"header-1-byte", []byte{bitFin | byte(opText)}},
	{"extended-length", []byte{bitFin | byte(opBinary), 0x80 | 126, 0x01}},
	{"64-bit-length", rawHeader(bitFin|byte(opBinary), 70000, rawKey[:])[:6]},
	{"mask-key", clientFrame(bitFin|byte(opText), []byte("hello"))[:4]},
	{"payload", clientFrame(bitFin|byte(opBinary), make([]byte, 10))[:10]},
	{"control-payload", clientFrame(bitFin|byte(opPing), []byte("ping!"))[:8]},
	{"inside-fragmented-message", cat(clientFrame(byte(opText), []byte("a")), clientFrame(bitFin|byte(opContinuation), []byte("bc"))[:7])},
}

// TestTruncatedStream sends part of a frame and then closes its side: the
// server sees an abnormal closure (1006), sends no close frame, and ends
// the connection.
func TestTruncatedStream(t *testing.T) {
	t.Parallel()
	for _, tt := range truncatedCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startEchoTestServer(t, nil)
			nc, br := rawWSDial(t, s)
			if _, err := nc.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if err := nc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			expectEOF(t, br)

			err := s.connErr(t)
			var perr ProtocolError
			if CloseStatus(err) != StatusAbnormalClosure || errors.As(err, &perr) {
				t.Fatalf("server's Read ended with %v, want an abnormal closure", err)
			}
			wantEOF := io.ErrUnexpectedEOF
			if len(tt.send) == 0 {
				wantEOF = io.EOF
			}
			if !errors.Is(err, wantEOF) {
				t.Fatalf("server's Read ended with %v, want it to wrap %v", err, wantEOF)
			}
			checkStillEchoes(t, s.Listener.Addr().String(), s.errs)
		})
	}
}

// oneByteFragments returns msg as a text message of one-byte fragments,
// so that every multi-byte rune is split across frames.
func oneByteFragments(msg []byte) []byte {
	out := make([]byte, 0, len(msg)*7)
	for i := range msg {
		b0 := byte(opContinuation)
		if i == 0 {
			b0 = byte(opText)
		}
		if i == len(msg)-1 {
			b0 |= bitFin
		}
		out = append(out, clientFrame(b0, msg[i:i+1])...)
	}
	return out
}

// TestManyFragments sends a message of 100 000 one-byte fragments: it is
// legal and echoed whole, unless MaxMessageFrames is lower, when it fails
// with 1008.
func TestManyFragments(t *testing.T) {
	t.Parallel()
	const n = 100_000
	msg := textOfSize(n)
	stream := oneByteFragments(msg)
	tests := []struct {
		name     string
		opts     ConnOptions
		wantCode StatusCode // 0: echoed
	}{
		{"default-limit", ConnOptions{}, 0},
		{"limit-1000", ConnOptions{MaxMessageFrames: 1000}, StatusPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startEchoTestServer(t, &AcceptOptions{ConnOptions: tt.opts})
			nc, br := rawWSDial(t, s)
			// Correctness, not speed, is asserted: the deadline only keeps
			// a slow race-detector run from hanging.
			nc.SetDeadline(time.Now().Add(60 * time.Second))
			written := make(chan error, 1)
			go func() {
				_, err := nc.Write(stream)
				written <- err
			}()

			if tt.wantCode == 0 {
				f, err := readRawFrame(br, 2*n)
				if err != nil {
					t.Fatalf("reading the echo: %v", err)
				}
				if f.op() != opText || !f.fin() || !bytes.Equal(f.payload, msg) {
					t.Fatalf("echo is %v, want the %d-byte text (equal: %v)", f, n, bytes.Equal(f.payload, msg))
				}
				if err := <-written; err != nil {
					t.Fatal(err)
				}
				nc.Write(clientFrame(bitFin|byte(opClose), rawClosePayload(1000, "")))
				if f := readUntilClose(t, br); f.closeCode() != StatusNormalClosure {
					t.Fatalf("close echo %v, want 1000", f.closeCode())
				}
				expectEOF(t, br)
				if err := s.connErr(t); CloseStatus(err) != StatusNormalClosure {
					t.Fatalf("server's Read ended with %v, want close 1000", err)
				}
				return
			}

			f := readUntilClose(t, br)
			if f.closeCode() != tt.wantCode {
				t.Fatalf("server closed with %v, want %v", f.closeCode(), tt.wantCode)
			}
			expectEOF(t, br)
			nc.Close()
			<-written // the server dropped the rest, or the close cut it
			err := s.connErr(t)
			var perr ProtocolError
			if !errors.As(err, &perr) || perr.Code != tt.wantCode {
				t.Fatalf("server's Read ended with %v, want a ProtocolError with %v", err, tt.wantCode)
			}
			checkStillEchoes(t, s.Listener.Addr().String(), s.errs)
		})
	}
}

// badHandshakeCases are opening handshakes the server must refuse, with
// the status and the response headers it must send. {host} stands for the
// server's address.
var badHandshakeCases = []struct {
	name   string
	req    string
	status int
	header map[string]string
}{
	{"POST", "POST /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
		http.StatusMethodNotAllowed, map[string]string{"Allow": "GET"}},
	{"HTTP/1.0", "GET /chat HTTP/1.0\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusBadRequest, nil},
	{"no-Upgrade", "GET /chat HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusUpgradeRequired, map[string]string{"Upgrade": "websocket"}},
	{"Upgrade-h2c", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusUpgradeRequired, map[string]string{"Upgrade": "websocket"}},
	{"no-Connection", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusUpgradeRequired, map[string]string{"Upgrade": "websocket"}},
	{"Connection-keep-alive", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusUpgradeRequired, map[string]string{"Upgrade": "websocket"}},
	{"version-12", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 12\r\n\r\n",
		http.StatusUpgradeRequired, map[string]string{"Sec-WebSocket-Version": "13"}},
	{"version-missing", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\n\r\n",
		http.StatusUpgradeRequired, map[string]string{"Sec-WebSocket-Version": "13"}},
	{"key-not-base64", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: not base64!\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusBadRequest, nil},
	{"key-15-bytes", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusBadRequest, nil},
	{"key-missing", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusBadRequest, nil},
	{"key-twice", "GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusBadRequest, nil},
	{"cross-origin", "GET /chat HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusForbidden, nil},
	{"cross-origin-scheme", "GET /chat HTTP/1.1\r\nHost: {host}\r\nOrigin: https://{host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusForbidden, nil},
	{"cross-origin-port", "GET /chat HTTP/1.1\r\nHost: {host}\r\nOrigin: http://127.0.0.1:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusForbidden, nil},
	{"origin-null", "GET /chat HTTP/1.1\r\nHost: {host}\r\nOrigin: null\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawHandshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
		http.StatusForbidden, nil},
}

func TestBadHandshakes(t *testing.T) {
	t.Parallel()
	for _, tt := range badHandshakeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startEchoTestServer(t, nil)
			addr := s.Listener.Addr().String()
			nc, br := rawDial(t, addr)
			if _, err := io.WriteString(nc, strings.ReplaceAll(tt.req, "{host}", addr)); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d", resp.Status, tt.status)
			}
			for k, v := range tt.header {
				if !headerHasToken(resp.Header, k, v) {
					t.Errorf("response header %s: %q, want %q", k, resp.Header.Values(k), v)
				}
			}
			if resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Error("a refused handshake has Sec-WebSocket-Accept")
			}
			nc.Close()
			checkStillEchoes(t, s.Listener.Addr().String(), s.errs)
		})
	}
}

// TestSameOriginHandshake is the control for the cross-origin cases.
func TestSameOriginHandshake(t *testing.T) {
	t.Parallel()
	s := startEchoTestServer(t, nil)
	addr := s.Listener.Addr().String()
	nc, br := rawDial(t, addr)
	req := strings.Replace(rawHandshakeRequest(addr), "\r\n\r\n", "\r\nOrigin: http://"+addr+"\r\n\r\n", 1)
	io.WriteString(nc, req)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != rawHandshakeAccept {
		t.Fatalf("same-origin handshake: %v, %v", resp, err)
	}
	nc.Write(clientFrame(bitFin|byte(opClose), rawClosePayload(1001, "")))
	if f := readUntilClose(t, br); f.closeCode() != StatusGoingAway {
		t.Fatalf("close echo %v, want 1001", f.closeCode())
	}
	if err := s.connErr(t); CloseStatus(err) != StatusGoingAway {
		t.Fatalf("server's Read ended with %v", err)
	}
}

// expectServerHangsUp reads from nc until the server closes it, which must
// happen before the connection's deadline.
func expectServerHangsUp(t *testing.T, nc net.Conn) {
	t.Helper()
	rest, err := io.ReadAll(nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server did not close the connection within %v", badInputTimeout)
	}
	// The server may answer, or not; it must not upgrade.
	if bytes.HasPrefix(rest, []byte("HTTP/1.1 101")) {
		t.Fatalf("the server upgraded a half-sent handshake: %q", rest)
	}
}

// TestStalledHandshakeHTTPServer sends half a request line to an
// http.Server with a ReadHeaderTimeout: net/http closes the connection in
// time, and the server still serves others.
func TestStalledHandshakeHTTPServer(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 4)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		errs <- echoLoop(c)
		c.CloseNow()
	}))
	s.Config.ReadHeaderTimeout = 500 * time.Millisecond
	s.Start()
	defer s.Close()

	nc, _ := rawDial(t, s.Listener.Addr().String())
	io.WriteString(nc, "GET /ch")
	expectServerHangsUp(t, nc)
	checkStillEchoes(t, s.Listener.Addr().String(), errs)
}
