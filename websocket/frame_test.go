package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// frameSizes are the payload lengths at the edges of the three length
// encodings (7-bit, 16-bit, 64-bit), and a large one.
var frameSizes = []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20}

// chunkers cut reads short: a parser must not assume that a read returns
// a whole header, or a whole payload.
var chunkers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", nil},
	{"OneByteReader", iotest.OneByteReader},
	{"HalfReader", iotest.HalfReader},
}

func TestHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	type variant struct {
		name   string
		b0     byte // FIN, RSV and opcode bits
		masked bool
	}
	variants := []variant{
		{"text-fin-masked", bitFin | byte(opText), true},
		{"binary-fin", bitFin | byte(opBinary), false},
		{"continuation", byte(opContinuation), true},
		{"rsv-bits", bitRSV1 | bitRSV2 | bitRSV3 | byte(opBinary), false},
		{"reserved-opcode", bitFin | 0x0b, true},
	}
	for _, size := range frameSizes {
		for _, v := range variants {
			t.Run(fmt.Sprintf("%d/%s", size, v.name), func(t *testing.T) {
				var key []byte
				if v.masked {
					key = rawKey[:]
				}
				want := rawHeader(v.b0, uint64(size), key)

				if got := headerLen(want[1]); got != len(want) {
					t.Fatalf("headerLen(%#x) = %d, want %d", want[1], got, len(want))
				}
				h, ok := parseHeader(want)
				if !ok {
					t.Fatalf("parseHeader(% x) rejected a valid header", want)
				}
				wantHeader := header{
					fin:    v.b0&bitFin != 0,
					rsv:    v.b0 & (bitRSV1 | bitRSV2 | bitRSV3),
					op:     opcode(v.b0 & 0x0f),
					masked: v.masked,
					length: int64(size),
				}
				if v.masked {
					wantHeader.key = uint32(rawKey[0]) | uint32(rawKey[1])<<8 | uint32(rawKey[2])<<16 | uint32(rawKey[3])<<24
				}
				if h != wantHeader {
					t.Fatalf("parseHeader(% x) = %+v, want %+v", want, h, wantHeader)
				}

				var buf [maxHeaderSize]byte
				n := putHeader(&buf, h)
				if !bytes.Equal(buf[:n], want) {
					t.Fatalf("putHeader(%+v) = % x, want % x", h, buf[:n], want)
				}
			})
		}
	}
}

func TestHeaderLengthEncoding(t *testing.T) {
	t.Parallel()
	// The length takes the fewest bytes (RFC 6455 section 5.2).
	tests := []struct {
		length  int64
		wantLen int // header bytes, unmasked
	}{
		{0, 2}, {125, 2}, {126, 4}, {0xffff, 4}, {0x10000, 10}, {1<<63 - 1, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.length), func(t *testing.T) {
			var buf [maxHeaderSize]byte
			n := putHeader(&buf, header{fin: true, op: opBinary, length: tt.length})
			if n != tt.wantLen {
				t.Fatalf("putHeader wrote %d bytes, want %d: % x", n, tt.wantLen, buf[:n])
			}
			h, ok := parseHeader(buf[:n])
			if !ok || h.length != tt.length {
				t.Fatalf("parseHeader(% x) = %d, %v; want %d", buf[:n], h.length, ok, tt.length)
			}
		})
	}
}

func TestHeaderLengthTopBit(t *testing.T) {
	t.Parallel()
	// A 64-bit length with its most significant bit set is invalid
	// (RFC 6455 section 5.2).
	for _, length := range []uint64{1 << 63, 1<<64 - 1, 1<<63 | 5} {
		t.Run(fmt.Sprintf("%#x", length), func(t *testing.T) {
			for _, key := range [][]byte{nil, rawKey[:]} {
				b := rawHeader(bitFin|byte(opBinary), length, key)
				if _, ok := parseHeader(b); ok {
					t.Errorf("parseHeader(% x) accepted a length with the top bit set", b)
				}
			}
		})
	}
}

func TestOpcode(t *testing.T) {
	t.Parallel()
	for op := range opcode(16) {
		t.Run(op.String(), func(t *testing.T) {
			wantKnown := op <= 2 || (op >= 8 && op <= 10)
			if got := op.known(); got != wantKnown {
				t.Errorf("known() = %v, want %v", got, wantKnown)
			}
			if got, want := op.isControl(), op >= 8; got != want {
				t.Errorf("isControl() = %v, want %v", got, want)
			}
		})
	}
}

// textOfSize returns valid UTF-8 text of exactly n bytes, with runes of
// every length.
func textOfSize(n int) []byte {
	runes := []string{"a", "é", "€", "𝄞", "z", "ß"}
	b := make([]byte, 0, n)
	for i := 0; ; i++ {
		r := runes[i%len(runes)]
		if len(b)+len(r) > n {
			break
		}
		b = append(b, r...)
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}

// binaryOfSize returns n bytes that are not UTF-8.
func binaryOfSize(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestFraming sends messages of every frame size in both directions, as
// one frame and as many, and reads them through chunking readers, whole
// and streamed.
func TestFraming(t *testing.T) {
	t.Parallel()
	for _, ch := range chunkers {
		for _, dir := range []string{"client-to-server", "server-to-client"} {
			for _, api := range []string{"Read", "Reader"} {
				t.Run(ch.name+"/"+dir+"/"+api, func(t *testing.T) {
					t.Parallel()
					testFraming(t, ch.wrap, dir == "client-to-server", api == "Reader")
				})
			}
		}
	}
}

func testFraming(t *testing.T, wrap func(io.Reader) io.Reader, clientWrites, stream bool) {
	// A context that is never done: one with a deadline costs a timer
	// per read, and one-byte reads of megabytes are many reads. The
	// watchdog bounds the test instead.
	ctx := context.Background()
	p1, p2 := net.Pipe()
	// Each side reads through the chunker.
	client := newChunkedConn(p1, wrap, true, ConnOptions{WriteBufferSize: 256})
	server := newChunkedConn(p2, wrap, false, ConnOptions{WriteBufferSize: 256})
	defer client.CloseNow()
	defer server.CloseNow()
	watchdog := time.AfterFunc(60*time.Second, func() {
		client.CloseNow()
		server.CloseNow()
	})
	defer watchdog.Stop()
	writer, reader := server, client
	if clientWrites {
		writer, reader = client, server
	}

	type msg struct {
		typ MessageType
		p   []byte
	}
	var msgs []msg
	for i, size := range frameSizes {
		if i%2 == 0 {
			msgs = append(msgs, msg{MessageText, textOfSize(size)})
		} else {
			msgs = append(msgs, msg{MessageBinary, binaryOfSize(size)})
		}
	}

	// The writer sends each message as one frame with Write, then again
	// through a Writer in pieces of awkward sizes, which the 256-byte
	// write buffer turns into many frames; then it closes.
	werr := make(chan error, 1)
	go func() {
		werr <- func() error {
			for _, m := range msgs {
				if err := writer.Write(ctx, m.typ, m.p); err != nil {
					return fmt.Errorf("Write %d bytes: %w", len(m.p), err)
				}
			}
			for _, m := range msgs {
				w, err := writer.Writer(ctx, m.typ)
				if err != nil {
					return err
				}
				p := m.p
				for k := 1; len(p) > 0; k = k*3 + 1 {
					n := min(k, len(p))
					if _, err := w.Write(p[:n]); err != nil {
						return fmt.Errorf("Writer.Write: %w", err)
					}
					p = p[n:]
				}
				if err := w.Close(); err != nil {
					return fmt.Errorf("Writer.Close: %w", err)
				}
			}
			return writer.Close(StatusNormalClosure, "done")
		}()
	}()

	read := func() (MessageType, []byte, error) {
		if !stream {
			return reader.Read(ctx)
		}
		typ, r, err := reader.Reader(ctx)
		if err != nil {
			return 0, nil, err
		}
		var out []byte
		buf := make([]byte, 1000)
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				return typ, out, nil
			}
			if err != nil {
				return typ, out, err
			}
		}
	}
	for round := range 2 {
		for _, m := range msgs {
			typ, p, err := read()
			if err != nil {
				t.Fatalf("round %d: reading the %d-byte message: %v", round, len(m.p), err)
			}
			if typ != m.typ || !bytes.Equal(p, m.p) {
				t.Fatalf("round %d: read %v of %d bytes, want %v of %d bytes (equal: %v)",
					round, typ, len(p), m.typ, len(m.p), bytes.Equal(p, m.p))
			}
		}
	}
	_, _, err := read()
	if ce := (CloseError{}); !errors.As(err, &ce) || ce != (CloseError{StatusNormalClosure, "done"}) {
		t.Fatalf("read after the messages: %v, want the peer's close frame", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// TestFragmentedWithControlFrames sends fragmented messages with control
// frames between their fragments, a rune split across fragments and empty
// fragments, and reads them through chunking readers.
func TestFragmentedWithControlFrames(t *testing.T) {
	t.Parallel()
	for _, ch := range chunkers {
		t.Run(ch.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p1, p2 := net.Pipe()
			defer p1.Close()
			server := newChunkedConn(p2, ch.wrap, false, ConnOptions{})
			defer server.CloseNow()

			in := clientFrames(
				rawFrameSpec{byte(opText), []byte("Hel")},
				rawFrameSpec{bitFin | byte(opPing), []byte("p1")},
				rawFrameSpec{byte(opContinuation), []byte("lo, w\xc3")}, // ö split
				rawFrameSpec{bitFin | byte(opPong), []byte("unsolicited")},
				rawFrameSpec{byte(opContinuation), []byte("\xb6")},
				rawFrameSpec{byte(opContinuation), nil},
				rawFrameSpec{bitFin | byte(opContinuation), []byte("rld")},

				rawFrameSpec{byte(opBinary), []byte{0, 1, 2}},
				rawFrameSpec{bitFin | byte(opPing), nil},
				rawFrameSpec{byte(opContinuation), nil},
				rawFrameSpec{bitFin | byte(opPing), bytes.Repeat([]byte{0xff}, maxControlPayload)},
				rawFrameSpec{bitFin | byte(opContinuation), []byte{3}},

				rawFrameSpec{bitFin | byte(opText), nil},
				rawFrameSpec{bitFin | byte(opClose), rawClosePayload(1000, "bye")},
			)
			go p1.Write(in)

			// What the server sends back: a pong for each ping, with its
			// payload, then the close frame echoed.
			type result struct {
				frames []gotFrame
				err    error
			}
			got := make(chan result, 1)
			go func() {
				var r result
				for {
					f, err := readRawFrame(p1, 1<<10)
					if err != nil {
						r.err = err
						break
					}
					r.frames = append(r.frames, f)
					if f.op() == opClose {
						break
					}
				}
				got <- r
			}()

			want := []struct {
				typ MessageType
				p   string
			}{
				{MessageText, "Hello, wörld"},
				{MessageBinary, "\x00\x01\x02\x03"},
				{MessageText, ""},
			}
			for _, w := range want {
				typ, p, err := server.Read(ctx)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if typ != w.typ || string(p) != w.p {
					t.Fatalf("Read = %v %q, want %v %q", typ, p, w.typ, w.p)
				}
			}
			_, _, err := server.Read(ctx)
			if want := (CloseError{StatusNormalClosure, "bye"}); !errors.Is(err, want) {
				t.Fatalf("Read after the messages: %v, want %v", err, want)
			}

			r := <-got
			if r.err != nil {
				t.Fatalf("reading the server's frames: %v", r.err)
			}
			wantFrames := []gotFrame{
				{b0: bitFin | byte(opPong), payload: []byte("p1")},
				{b0: bitFin | byte(opPong), payload: []byte{}},
				{b0: bitFin | byte(opPong), payload: bytes.Repeat([]byte{0xff}, maxControlPayload)},
				{b0: bitFin | byte(opClose), payload: rawClosePayload(1000, "")},
			}
			if len(r.frames) != len(wantFrames) {
				t.Fatalf("server sent %v, want %d frames", r.frames, len(wantFrames))
			}
			for i, f := range r.frames {
				w := wantFrames[i]
				if f.b0 != w.b0 || f.masked || !bytes.Equal(f.payload, w.payload) {
					t.Errorf("server frame %d: %v % x, want %v % x unmasked", i, f, f.payload, w.op(), w.payload)
				}
			}
		})
	}
}

// TestPingInsideFragmentedMessage has a client's Writer send the first
// fragment of a message, then Ping: the Ping can return only if the server
// answers it while the message is in progress, since the last fragment
// goes out after it.
func TestPingInsideFragmentedMessage(t *testing.T) {
	t.Parallel()
	for _, ch := range chunkers {
		t.Run(ch.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p1, p2 := net.Pipe()
			client := newChunkedConn(p1, ch.wrap, true, ConnOptions{WriteBufferSize: 256})
			server := newChunkedConn(p2, ch.wrap, false, ConnOptions{})
			defer client.CloseNow()
			defer server.CloseNow()

			// The client's reader, which receives the pongs.
			clientRead := make(chan error, 1)
			go func() {
				_, _, err := client.Read(ctx)
				clientRead <- err
			}()

			msg := textOfSize(1000)
			werr := make(chan error, 1)
			go func() {
				werr <- func() error {
					w, err := client.Writer(ctx, MessageText)
					if err != nil {
						return err
					}
					if _, err := w.Write(msg[:600]); err != nil {
						return err
					}
					for range 3 {
						if err := client.Ping(ctx); err != nil {
							return fmt.Errorf("Ping inside a message: %w", err)
						}
					}
					if _, err := w.Write(msg[600:]); err != nil {
						return err
					}
					return w.Close()
				}()
			}()

			typ, p, err := server.Read(ctx)
			if err != nil {
				t.Fatalf("server Read: %v", err)
			}
			if typ != MessageText || !bytes.Equal(p, msg) {
				t.Fatalf("server Read = %v of %d bytes, want the %d-byte text", typ, len(p), len(msg))
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if err := server.Close(StatusNormalClosure, ""); err != nil {
				t.Fatalf("server Close: %v", err)
			}
			if err := <-clientRead; CloseStatus(err) != StatusNormalClosure {
				t.Fatalf("client Read: %v, want close 1000", err)
			}
		})
	}
}

// TestReadTextSplitRunes reads text messages cut into one-byte fragments,
// every rune split across frames.
func TestReadTextSplitRunes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p1, p2 := net.Pipe()
	defer p1.Close()
	server := newChunkedConn(p2, iotest.HalfReader, false, ConnOptions{})
	defer server.CloseNow()

	text := []byte(strings.Repeat("aé€𝄞", 10))
	if !utf8.Valid(text) {
		t.Fatal("bad test text")
	}
	var in []byte
	for i, b := range text {
		b0 := byte(opContinuation)
		if i == 0 {
			b0 = byte(opText)
		}
		if i == len(text)-1 {
			b0 |= bitFin
		}
		in = append(in, clientFrame(b0, []byte{b})...)
	}
	go p1.Write(in)
	typ, p, err := server.Read(ctx)
	if err != nil || typ != MessageText || !bytes.Equal(p, text) {
		t.Fatalf("Read = %v %q, %v; want %q", typ, p, err, text)
	}
}
