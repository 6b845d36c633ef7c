package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// compressible returns n bytes of JSON-like text that repeats at varying
// distances, so that matches both inside and beyond small windows exist.
func compressible(r *rand.Rand, n int) []byte {
	words := []string{"cpu", "mem", "net", "host", "value", "time", "status", "ok", "failed", "127.0.0.1", "web01"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"%s":%d,"%s":"%s"},`, words[r.IntN(len(words))], r.IntN(1000), words[r.IntN(len(words))], words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

// TestCompressionRoundTrips: with permessage-deflate agreed on every window
// size from 8 to 15 and with and without context takeover, messages of
// many sizes go both ways intact, whole and streamed, and are really
// compressed (the first frame has RSV1, checked on the agreement).
func TestCompressionRoundTrips(t *testing.T) {
	for bits := 8; bits <= 15; bits++ {
		for _, nct := range []bool{false, true} {
			t.Run(fmt.Sprintf("window=%d/no_context_takeover=%v", bits, nct), func(t *testing.T) {
				t.Parallel()
				co := CompressionOptions{Enabled: true, ServerMaxWindowBits: bits, ClientMaxWindowBits: bits, NoContextTakeover: nct, Threshold: -1}
				srv, cli := loopbackPair(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: co}}, &DialOptions{ConnOptions: ConnOptions{Compression: co}})
				for _, c := range []*Conn{srv, cli} {
					if c.deflate == nil {
						t.Fatal("compression was not agreed")
					}
					a := c.deflate.agreed
					if a.writeWindowBits != bits || a.readWindowBits != bits || a.writeNoContextTakeover != nct || a.readNoContextTakeover != nct {
						t.Fatalf("agreed %+v", a)
					}
				}
				r := rand.New(rand.NewPCG(uint64(bits), 1))
				ctx := connTestCtx(t)
				var msgs [][]byte
				for _, n := range []int{0, 1, 100, 1 << 8, 1<<bits + 3, 70000, 300000} {
					m := compressible(r, n)
					msgs = append(msgs, m, m) // the same again: context takeover finds it
				}
				random := make([]byte, 50000)
				for i := range random {
					random[i] = byte(r.Uint32())
				}
				msgs = append(msgs, random)
				for _, dir := range []struct {
					name     string
					from, to *Conn
				}{{"client to server", cli, srv}, {"server to client", srv, cli}} {
					for i, m := range msgs {
						errc := make(chan error, 1)
						go func() {
							if i%2 == 0 {
								errc <- dir.from.Write(ctx, typeOf(m), m)
								return
							}
							w, err := dir.from.Writer(ctx, typeOf(m))
							if err != nil {
								errc <- err
								return
							}
							for p := m; len(p) > 0; {
								k := min(len(p), 1+r.IntN(20000))
								if _, err := w.Write(p[:k]); err != nil {
									errc <- err
									return
								}
								p = p[k:]
							}
							errc <- w.Close()
						}()
						var got []byte
						if i%3 == 0 {
							typ, rd, err := dir.to.Reader(ctx)
							if err != nil || typ != typeOf(m) {
								t.Fatalf("%s: message %d: Reader: %v %v", dir.name, i, typ, err)
							}
							got, err = io.ReadAll(rd)
							if err != nil {
								t.Fatalf("%s: message %d: %v", dir.name, i, err)
							}
						} else {
							var err error
							if _, got, err = dir.to.Read(ctx); err != nil {
								t.Fatalf("%s: message %d: %v", dir.name, i, err)
							}
						}
						if err := <-errc; err != nil {
							t.Fatalf("%s: message %d: write: %v", dir.name, i, err)
						}
						if !bytes.Equal(got, m) {
							t.Fatalf("%s: message %d (%d bytes) came back as %d different bytes", dir.name, i, len(m), len(got))
						}
					}
				}
			})
		}
	}
}

// typeOf sends valid UTF-8 as text, anything else as binary.
func typeOf(p []byte) MessageType {
	if utf8.Valid(p) {
		return MessageText
	}
	return MessageBinary
}

// TestCompressionDeclined: with compression disabled on either side no
// extension is agreed, and messages flow uncompressed.
func TestCompressionDeclined(t *testing.T) {
	off := ConnOptions{} // compression is off by default
	for _, tc := range []struct {
		name string
		ao   *AcceptOptions
		do   *DialOptions
	}{
		{"server disabled", &AcceptOptions{ConnOptions: off}, nil},
		{"client disabled", nil, &DialOptions{ConnOptions: off}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := loopbackPair(t, tc.ao, tc.do)
			if srv.deflate != nil || cli.deflate != nil {
				t.Fatal("compression agreed although disabled")
			}
			ctx := connTestCtx(t)
			msg := bytes.Repeat([]byte("abc"), 1000)
			go cli.Write(ctx, MessageBinary, msg)
			if _, got, err := srv.Read(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("Read: %v", err)
			}
		})
	}
}

// TestCompressionThreshold: messages under the threshold go uncompressed;
// the receiver sees RSV1 only on the compressed ones.
func TestCompressionThreshold(t *testing.T) {
	srv, cli := deflatePair(t)
	ctx := connTestCtx(t)
	small := []byte(strings.Repeat("a", defaultCompressionThreshold-1))
	big := []byte(strings.Repeat("a", defaultCompressionThreshold))
	for _, tc := range []struct {
		name     string
		write    func() error
		wantComp bool
		want     []byte
	}{
		{"under threshold", func() error { return cli.Write(ctx, MessageText, small) }, false, small},
		{"at threshold", func() error { return cli.Write(ctx, MessageText, big) }, true, big},
	} {
		errc := make(chan error, 1)
		go func() { errc <- tc.write() }()
		_, r, err := srv.Reader(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if srv.mr.compressed != tc.wantComp {
			t.Errorf("%s: compressed = %v, want %v", tc.name, srv.mr.compressed, tc.wantComp)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Fatalf("%s: got %d bytes, %v", tc.name, len(got), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestDecompressionBomb: a 1 GiB message of zeros, compressed on the fly,
// sent to a server whose limit is 16 MiB: the server fails it with 1009
// while inflating, having allocated a bounded amount of memory.
func TestDecompressionBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("sends up to 1 GiB through a compressor")
	}
	const limit = 16 << 20
	srv, cli := loopbackPair(t, &AcceptOptions{ConnOptions: ConnOptions{MaxMessageSize: limit}}, nil)
	ctx := connTestCtx(t)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := srv.Read(ctx)
		readErr <- err
	}()
	// The client reads too, as an application does: it gets the server's
	// close frame while it is still writing, and that ends the writes.
	cliErr := make(chan error, 1)
	go func() {
		_, _, err := cli.Read(ctx)
		cliErr <- err
	}()
	zeros := make([]byte, 1<<20)
	w, err := cli.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for ; sent < 1<<30; sent += len(zeros) {
		if _, err := w.Write(zeros); err != nil {
			break
		}
	}
	w.Close()
	err = <-readErr
	runtime.ReadMemStats(&after)
	var perr ProtocolError
	if !errors.As(err, &perr) || perr.Code != StatusMessageTooBig || !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("server Read = %v, want a 1009 ProtocolError", err)
	}
	if err := <-cliErr; CloseStatus(err) != StatusMessageTooBig {
		t.Fatalf("client saw %v, want close 1009", err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("client wrote %d MiB (uncompressed) before it saw the close; %d MiB allocated in all while it lasted", sent>>20, alloc>>20)
	if alloc > 6*limit {
		t.Errorf("allocated %d MiB for a 16 MiB limit", alloc>>20)
	}
}

// TestCompressedFrameRules: RSV1 is allowed only on the first frame of a
// data message, and only with permessage-deflate agreed; corrupt DEFLATE
// data fails the connection with 1007.
func TestCompressedFrameRules(t *testing.T) {
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	fw.Write([]byte("hello hello hello"))
	fw.Flush()
	payload := deflated.Bytes()[:deflated.Len()-4]

	for _, tc := range []struct {
		name   string
		frames []testFrame
		code   StatusCode
	}{
		{"compressed ping", []testFrame{{fin: true, rsv: bitRSV1, op: opPing, payload: []byte("x")}}, StatusProtocolError},
		{"compressed continuation", []testFrame{{fin: false, rsv: bitRSV1, op: opText, payload: payload[:3]}, {fin: true, rsv: bitRSV1, op: opContinuation, payload: payload[3:]}}, StatusProtocolError},
		{"RSV2", []testFrame{{fin: true, rsv: bitRSV2, op: opText, payload: []byte("x")}}, StatusProtocolError},
		{"corrupt data", []testFrame{{fin: true, rsv: bitRSV1, op: opBinary, payload: []byte{0xff, 0xff, 0xff}}}, StatusInvalidFramePayload},
		{"invalid UTF-8 inside", []testFrame{{fin: true, rsv: bitRSV1, op: opText, payload: deflateBytes(t, []byte("ok \xff"))}}, StatusInvalidFramePayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, wire := compressedWirePair(t)
			for _, f := range tc.frames {
				wire.write(f)
			}
			_, _, err := srv.Read(connTestCtx(t))
			var perr ProtocolError
			if !errors.As(err, &perr) || perr.Code != tc.code {
				t.Fatalf("Read = %v, want ProtocolError %d", err, tc.code)
			}
			if code := wire.readClose(); code != tc.code {
				t.Fatalf("close code on the wire %d, want %d", code, tc.code)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		srv, wire := compressedWirePair(t)
		wire.write(testFrame{fin: false, rsv: bitRSV1, op: opText, payload: payload[:3]})
		wire.write(testFrame{fin: true, op: opContinuation, payload: payload[3:]})
		if _, got, err := srv.Read(connTestCtx(t)); err != nil || string(got) != "hello hello hello" {
			t.Fatalf("Read = %q, %v", got, err)
		}
	})
}

func deflateBytes(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write(p)
	fw.Flush()
	return b.Bytes()[:b.Len()-4]
}

// TestCompressionContextTakeoverSavesBytes: with context takeover a
// message repeated is sent as a back reference, much smaller than the
// first time; without, both are the same size.
func TestCompressionContextTakeoverSavesBytes(t *testing.T) {
	msg := compressible(rand.New(rand.NewPCG(7, 7)), 4000)
	for _, nct := range []bool{false, true} {
		d := newDeflateState(deflateAgreement{writeWindowBits: 15, readWindowBits: 15, writeNoContextTakeover: nct, readNoContextTakeover: nct}, CompressionOptions{})
		first, err := d.compress(msg)
		if err != nil {
			t.Fatal(err)
		}
		n1 := len(first)
		d.release()
		second, _ := d.compress(msg)
		n2 := len(second)
		d.release()
		if !nct && n2*4 > n1 {
			t.Errorf("context takeover: second copy %d bytes, first %d: history not used", n2, n1)
		}
		if nct && n2 != n1 {
			t.Errorf("no context takeover: second copy %d bytes, first %d: history leaked", n2, n1)
		}
		t.Logf("no_context_takeover=%v: %d -> %d, then %d bytes", nct, len(msg), n1, n2)
	}
}

// testFrame is a frame a hand-driven client sends, RSV bits included.
type testFrame struct {
	fin     bool
	rsv     byte
	op      opcode
	payload []byte
}

// deflateWire is a hand-driven client that agreed permessage-deflate.
type deflateWire struct {
	t testing.TB
	w *wireConn
}

// compressedWirePair connects a hand-driven client that offers
// permessage-deflate to an acceptServer.
func compressedWirePair(t *testing.T) (*Conn, *deflateWire) {
	t.Helper()
	ts, ch := acceptServer(t, &AcceptOptions{ConnOptions: deflateOn})
	addr := ts.Listener.Addr().String()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	key := wireKey()
	io.WriteString(nc, wireRequest(addr, key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"))
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(connTestTimeout))
	resp, err := http.ReadResponse(br, nil)
	nc.SetReadDeadline(time.Time{})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != "permessage-deflate" {
		t.Fatalf("Sec-WebSocket-Extensions = %q", got)
	}
	return recvConn(t, ch), &deflateWire{t: t, w: &wireConn{nc: nc, br: br, mask: true}}
}

func (d *deflateWire) write(f testFrame) {
	b := d.w.frame(f.fin, byte(f.op), f.payload)
	b[0] |= f.rsv
	if _, err := d.w.nc.Write(b); err != nil {
		d.t.Fatal(err)
	}
}

// readClose reads frames up to the close frame and returns its code.
func (d *deflateWire) readClose() StatusCode {
	for {
		f := d.w.readFrameT(d.t)
		if f.op == byte(opClose) {
			return f.closeCode()
		}
	}
}

// FuzzInflate: arbitrary bytes as the payload of compressed messages, with
// and without context takeover, never panic or hang, and never yield a
// message over the limit.
func FuzzInflate(f *testing.F) {
	f.Add(deflateBytesF([]byte("hello hello hello")), []byte{}, false)
	f.Add(deflateBytesF(bytes.Repeat([]byte{0}, 100000)), deflateBytesF([]byte("x")), true)
	f.Add([]byte{0xff, 0xff, 0xff}, []byte{0x00}, false)
	f.Add([]byte{}, []byte{0x03, 0x00}, true)
	f.Fuzz(func(t *testing.T, first, second []byte, takeover bool) {
		const limit = 1 << 16
		srvEnd, cliEnd := net.Pipe()
		defer cliEnd.Close()
		c := newConn(srvEnd, nil, false, "", ConnOptions{MaxMessageSize: limit, CloseTimeout: time.Second})
		defer c.CloseNow()
		c.deflate = newDeflateState(deflateAgreement{writeWindowBits: 15, readWindowBits: 15,
			readNoContextTakeover: !takeover, writeNoContextTakeover: !takeover}, CompressionOptions{})
		go io.Copy(io.Discard, cliEnd)
		go func() {
			w := &wireConn{nc: cliEnd, mask: true}
			for i, p := range [][]byte{first, second} {
				b := w.frame(true, byte(opText)+byte(i), p)
				b[0] |= bitRSV1
				if _, err := cliEnd.Write(b); err != nil {
					return
				}
			}
			w.writeClose(StatusNormalClosure, "")
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			_, p, err := c.Read(ctx)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatal("Read hung")
				}
				return
			}
			if len(p) > limit {
				t.Fatalf("message of %d bytes over the %d limit", len(p), limit)
			}
		}
	})
}

func deflateBytesF(p []byte) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write(p)
	fw.Flush()
	return b.Bytes()[:b.Len()-4]
}
