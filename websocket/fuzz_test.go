package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Native fuzz targets, seeded from the unit tests' tables, with a corpus
// in testdata/fuzz. Run one with
//
//	go test -run '^$' -fuzz '^FuzzReadFrames$' -fuzztime 20s ./websocket/

// fuzzHang bounds one fuzz input: taking longer is reported as a hang.
const fuzzHang = 5 * time.Second

// fuzzReadOptions keep a fuzz input from asking for big allocations.
var fuzzReadOptions = ConnOptions{MaxMessageSize: 1 << 16, MaxMessageFrames: 1 << 10}

// FuzzReadFrames feeds arbitrary bytes to a server Conn as the client's
// stream, then ends it, and reads until an error. Besides not panicking
// or hanging, the server must end in one of three ways, each with what it
// sent to match: a ProtocolError, after a close frame with its code; the
// client's close frame, after its echo; or the end of the stream, with no
// close frame. It sends nothing but pongs and that close frame, and text
// messages it delivers are UTF-8.
func FuzzReadFrames(f *testing.F) {
	for _, tt := range badFrameCases {
		if len(tt.send) <= 1<<12 {
			f.Add(tt.send, byte(0))
		}
	}
	for i, tt := range truncatedCases {
		f.Add(tt.send, byte(i))
	}
	for i, size := range frameSizes[:5] {
		f.Add(cat(
			clientFrame(bitFin|byte(opText), textOfSize(size)),
			clientFrame(bitFin|byte(opBinary), binaryOfSize(size)),
			clientFrame(bitFin|byte(opClose), rawClosePayload(1000, "done")),
		), byte(i))
	}
	f.Add(oneByteFragments(textOfSize(40)), byte(4))
	f.Add(cat(
		clientFrame(byte(opText), []byte("Hel")),
		clientFrame(bitFin|byte(opPing), []byte("p1")),
		clientFrame(byte(opContinuation), []byte("lo \xc3")),
		clientFrame(bitFin|byte(opPong), []byte("x")),
		clientFrame(bitFin|byte(opContinuation), []byte("\xb6")),
		clientFrame(bitFin|byte(opClose), nil),
	), byte(5))
	for _, tt := range closePayloadCases {
		f.Add(clientFrame(bitFin|byte(opClose), tt.payload), byte(0))
	}

	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		client, serverEnd := halfPipe()
		defer client.Close()
		c := newChunkedConn(serverEnd, chunkers[int(mode)%len(chunkers)].wrap, false, fuzzReadOptions)
		defer c.CloseNow()
		stream := mode&4 != 0

		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			client.Write(data)
			client.CloseWrite()
		}()
		received := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(client)
			received <- b
		}()

		type result struct {
			msgs int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			var r result
			for r.err == nil {
				var typ MessageType
				var p []byte
				typ, p, r.err = fuzzReadMessage(c, stream)
				if r.err != nil {
					break
				}
				r.msgs++
				if typ == MessageText && !utf8.Valid(p) {
					r.err = fmt.Errorf("delivered a text message that is not UTF-8: %q", p)
					break
				}
				if int64(len(p)) > fuzzReadOptions.MaxMessageSize {
					r.err = fmt.Errorf("delivered a message of %d bytes, over the limit", len(p))
					break
				}
			}
			done <- r
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(fuzzHang):
			c.CloseNow()
			client.Close()
			<-done
			<-wrote
			t.Fatalf("reading %d bytes did not end within %v", len(data), fuzzHang)
		}
		c.CloseNow()
		sent := <-received
		client.Close()
		<-wrote

		frames, err := parseServerFrames(sent)
		if err != nil {
			t.Fatalf("server sent a bad stream: %v", err)
		}
		var last *gotFrame
		if len(frames) > 0 && frames[len(frames)-1].op() == opClose {
			last = &frames[len(frames)-1]
		}
		var perr ProtocolError
		var ce CloseError
		var abnormal *closedError
		switch {
		case errors.As(r.err, &perr):
			switch perr.Code {
			case StatusProtocolError, StatusInvalidFramePayload, StatusPolicyViolation, StatusMessageTooBig:
			default:
				t.Fatalf("failed with an unexpected code: %v", perr)
			}
			if last == nil || last.closeCode() != perr.Code {
				t.Fatalf("Read = %v, but the server sent %v", perr, frames)
			}
		case errors.As(r.err, &abnormal):
			if last != nil {
				t.Fatalf("Read = %v, but the server sent a close frame %v", r.err, last)
			}
		case errors.As(r.err, &ce):
			want := rawClosePayload(uint16(ce.Code), "")
			if ce.Code == StatusNoStatusRcvd {
				want = []byte{}
			}
			if last == nil || !bytes.Equal(last.payload, want) {
				t.Fatalf("Read = %v, but the server sent %v, not its echo", ce, frames)
			}
		default:
			t.Fatalf("Read ended with %v after %d messages", r.err, r.msgs)
		}
	})
}

// fuzzReadMessage reads a message whole with ReadAppend, or streamed
// through Reader in small reads.
func fuzzReadMessage(c *Conn, stream bool) (MessageType, []byte, error) {
	ctx := context.Background()
	if !stream {
		return c.ReadAppend(ctx, nil)
	}
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return typ, out, nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

// parseServerFrames parses what a server sent in reply to a client's
// stream: unmasked pongs and at most one close frame, last.
func parseServerFrames(b []byte) ([]gotFrame, error) {
	var frames []gotFrame
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		f, err := readRawFrame(r, maxControlPayload)
		if err != nil {
			return frames, fmt.Errorf("after %v: %v", frames, err)
		}
		if len(frames) > 0 && frames[len(frames)-1].op() == opClose {
			return frames, fmt.Errorf("%v after the close frame", f)
		}
		if f.masked || f.rsv() != 0 || !f.fin() || (f.op() != opPong && f.op() != opClose) {
			return frames, fmt.Errorf("unexpected frame %v", f)
		}
		if f.op() == opClose {
			if _, perr := parseClosePayload(f.payload); perr != nil {
				return frames, fmt.Errorf("invalid close frame % x: %v", f.payload, perr)
			}
		}
		frames = append(frames, f)
	}
	return frames, nil
}

// FuzzHandshakeRequest feeds arbitrary bytes as an opening handshake to
// acceptRaw, then ends the stream. An accepted request gets a 101 with the
// right Sec-WebSocket-Accept; a refused one nothing, or an error status.
func FuzzHandshakeRequest(f *testing.F) {
	const host = "example.test"
	f.Add([]byte(rawHandshakeRequest(host)))
	f.Add([]byte(strings.Replace(rawHandshakeRequest(host), "\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat, superchat\r\nOrigin: http://example.test\r\n\r\n", 1)))
	f.Add(append([]byte(rawHandshakeRequest(host)), clientFrame(bitFin|byte(opText), []byte("early"))...))
	for _, tt := range badHandshakeCases {
		f.Add([]byte(strings.ReplaceAll(tt.req, "{host}", host)))
	}
	f.Add([]byte("GET /ch"))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		client, serverEnd := halfPipe()
		defer client.Close()
		defer serverEnd.Close()
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			client.Write(data)
			client.CloseWrite()
		}()
		received := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(client)
			received <- b
		}()

		start := time.Now()
		c, r, err := acceptRaw(serverEnd, &AcceptOptions{
			Subprotocols:     []string{"chat"},
			HandshakeTimeout: 2 * fuzzHang,
		}, 4096)
		if d := time.Since(start); d > fuzzHang {
			t.Fatalf("acceptRaw took %v", d)
		}
		if err == nil {
			c.CloseNow()
		} else {
			serverEnd.Close()
		}
		resp := <-received
		client.Close()
		<-wrote

		if err == nil {
			if r == nil || r.Method != http.MethodGet {
				t.Fatalf("acceptRaw accepted %v", r)
			}
			res, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), r)
			if rerr != nil || res.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("accepted, but the response is %q (%v)", resp, rerr)
			}
			key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
			if got := res.Header.Get("Sec-WebSocket-Accept"); got != handshakeAccept(key) {
				t.Fatalf("Sec-WebSocket-Accept %q for key %q", got, key)
			}
			if p := res.Header.Get("Sec-WebSocket-Protocol"); p != "" && p != c.Subprotocol() {
				t.Fatalf("response chose %q, Conn has %q", p, c.Subprotocol())
			}
			return
		}
		if len(resp) == 0 {
			return
		}
		res, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(resp)), nil)
		if rerr != nil {
			t.Fatalf("refused (%v) with a malformed response %q: %v", err, resp, rerr)
		}
		switch res.StatusCode {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusMethodNotAllowed,
			http.StatusUpgradeRequired, http.StatusRequestHeaderFieldsTooLarge:
		default:
			t.Fatalf("refused (%v) with status %s", err, res.Status)
		}
	})
}

// handshakeAccept computes Sec-WebSocket-Accept as RFC 6455 section 4.2.2
// says, independently of the package's acceptKey.
func handshakeAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// fuzzAcceptPlaceholder in a FuzzHandshakeResponse input is replaced by
// the Sec-WebSocket-Accept that matches the client's key, which is
// random, so that the fuzzer can get past that check.
const fuzzAcceptPlaceholder = "{{ACCEPT}}"

// handshakeResponseCases are server responses to a client that offers the
// subprotocols chat and superchat, and whether Dial accepts them; data
// after the response is the start of the WebSocket stream.
var handshakeResponseCases = []struct {
	name    string
	resp    string
	ok      bool
	subprot string
	first   string // the first message after the handshake, if any
}{
	{"valid", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\n\r\n", true, "", ""},
	{"valid-odd-case", "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\nsec-websocket-accept: {{ACCEPT}}\r\n\r\n", true, "", ""},
	{"subprotocol", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\nSec-WebSocket-Protocol: superchat\r\n\r\n", true, "superchat", ""},
	{"frame-after-response", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\n\r\n" +
		string(serverFrame(bitFin|byte(opText), []byte("hello"))), true, "", "hello"},
	{"wrong-accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + rawHandshakeAccept + "\r\n\r\n", false, "", ""},
	{"two-accepts", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\n\r\n", false, "", ""},
	{"no-accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false, "", ""},
	{"no-upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\n\r\n", false, "", ""},
	{"no-connection", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\n\r\n", false, "", ""},
	{"subprotocol-not-offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\nSec-WebSocket-Protocol: other\r\n\r\n", false, "", ""},
	{"extension-not-offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {{ACCEPT}}\r\nSec-WebSocket-Extensions: x-unknown\r\n\r\n", false, "", ""},
	{"200", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "", ""},
	{"403", "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden", false, "", ""},
	{"truncated", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", false, "", ""},
	{"not-http", "SSH-2.0-OpenSSH_9.6\r\n", false, "", ""},
	{"huge-header", "HTTP/1.1 101 Switching Protocols\r\nX: " + strings.Repeat("a", 8000) + "\r\n\r\n", false, "", ""},
}

// dialFuzzResponse dials through a net.Pipe whose other end reads the
// request and answers with resp, the placeholder replaced, and then ends
// the stream. On success it reads messages until an error and returns the
// first one.
func dialFuzzResponse(t *testing.T, resp []byte) (c *Conn, first []byte, err error) {
	client, serverEnd := halfPipe()
	defer client.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		defer serverEnd.Close()
		br := bufio.NewReader(serverEnd)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		accept := handshakeAccept(req.Header.Get("Sec-WebSocket-Key"))
		serverEnd.Write(bytes.ReplaceAll(resp, []byte(fuzzAcceptPlaceholder), []byte(accept)))
		serverEnd.CloseWrite()
		io.Copy(io.Discard, br) // what the client sends, until it closes
	}()
	defer func() { <-served }()

	dialed := false
	opts := &DialOptions{
		ConnOptions:  fuzzReadOptions,
		Subprotocols: []string{"chat", "superchat"},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dialed {
				return nil, errors.New("dialed twice")
			}
			dialed = true
			return client, nil
		},
		Proxy:            func(*http.Request) (*url.URL, error) { return nil, nil },
		HandshakeTimeout: 2 * fuzzHang,
		MaxHeaderBytes:   4096,
	}
	start := time.Now()
	c, res, err := Dial(context.Background(), "ws://example.test/chat", opts)
	if d := time.Since(start); d > fuzzHang {
		t.Fatalf("Dial took %v", d)
	}
	if err != nil {
		if c != nil {
			t.Fatalf("Dial returned a Conn and %v", err)
		}
		if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
			if _, rerr := io.ReadAll(res.Body); rerr != nil {
				t.Fatalf("reading the body of a refusal: %v", rerr)
			}
		}
		return nil, nil, err
	}
	defer c.CloseNow()
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("Dial succeeded with %s", res.Status)
	}
	if p := c.Subprotocol(); p != "" && !slices.Contains(opts.Subprotocols, p) {
		t.Fatalf("Dial succeeded with subprotocol %q, which was not offered", p)
	}
	// Read what came after the response, until the stream ends.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for i := 0; ; i++ {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if typ == MessageText && !utf8.Valid(p) {
				t.Errorf("text message that is not UTF-8: %q", p)
			}
			if i == 0 {
				first = p
			}
		}
	}()
	select {
	case <-readDone:
	case <-time.After(fuzzHang):
		c.CloseNow()
		<-readDone
		t.Fatalf("reading after the handshake did not end within %v", fuzzHang)
	}
	return c, first, nil
}

func TestHandshakeResponses(t *testing.T) {
	t.Parallel()
	for _, tt := range handshakeResponseCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, first, err := dialFuzzResponse(t, []byte(tt.resp))
			if (err == nil) != tt.ok {
				t.Fatalf("Dial: %v, want success %v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if c.Subprotocol() != tt.subprot {
				t.Errorf("subprotocol %q, want %q", c.Subprotocol(), tt.subprot)
			}
			if string(first) != tt.first {
				t.Errorf("first message %q, want %q", first, tt.first)
			}
		})
	}
}

// FuzzHandshakeResponse feeds arbitrary bytes to Dial as the server's
// response and what follows it.
func FuzzHandshakeResponse(f *testing.F) {
	for _, tt := range handshakeResponseCases {
		f.Add([]byte(tt.resp))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dialFuzzResponse(t, data)
	})
}

// FuzzClosePayload checks parseClosePayload against the rules it applies,
// and that a payload it accepts, if it fits a control frame, encodes back
// to the same bytes with appendClosePayload.
func FuzzClosePayload(f *testing.F) {
	for _, tt := range closePayloadCases {
		f.Add(tt.payload)
	}
	for _, tt := range closeCodeCases {
		f.Add(rawClosePayload(uint16(tt.code), "reason"))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		ce, perr := parseClosePayload(p)
		var wantOK bool
		var code uint16
		switch {
		case len(p) == 0:
			wantOK = true
		case len(p) >= 2:
			code = uint16(p[0])<<8 | uint16(p[1])
			wantOK = ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)) &&
				utf8.Valid(p[2:])
		}
		if (perr == nil) != wantOK {
			t.Fatalf("parse(% x) = %v, %v; want accepted: %v", p, ce, perr, wantOK)
		}
		if perr != nil {
			if perr.Code != StatusProtocolError && perr.Code != StatusInvalidFramePayload {
				t.Fatalf("parse(% x) failed with %v", p, perr)
			}
			return
		}
		if len(p) > maxControlPayload {
			return // a frame never carries it
		}
		out, err := appendClosePayload(nil, ce.Code, ce.Reason)
		if err != nil || !bytes.Equal(out, p) {
			t.Fatalf("parse(% x) = %v; append = % x, %v", p, ce, out, err)
		}
	})
}

// FuzzUTF8Validator feeds input to the validator in two pieces cut at a
// fuzzed index, and byte by byte: the result is utf8.Valid's, and the
// write that fails is the one holding the first bad byte.
func FuzzUTF8Validator(f *testing.F) {
	for i, tt := range utf8Cases {
		f.Add([]byte(tt.s), uint(i))
	}
	f.Fuzz(func(t *testing.T, s []byte, cut uint) {
		if len(s) > 1<<12 {
			return
		}
		i := int(cut % uint(len(s)+1))
		valid := utf8.Valid(s)
		bad := firstBadByte(s)
		failed, done := feedValidator(s[:i], s[i:])
		wantFailed := -1
		switch {
		case bad >= 0 && bad < i:
			wantFailed = 0
		case bad >= i:
			wantFailed = 1
		}
		if failed != wantFailed || (failed == -1 && done != valid) {
			t.Fatalf("%q cut at %d: write %d failed, done %v; want write %d to fail (first bad byte %d), valid %v",
				s, i, failed, done, wantFailed, bad, valid)
		}
		if len(s) <= 64 {
			checkSplits(t, s)
		}
	})
}
