package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"testing/iotest"
	"time"
)

// deflatePieces compresses msg as a client would send it: in pieces, each
// ended with a sync flush (so that the stream has empty stored blocks in
// the middle, which compress/flate reads with Read rather than ReadByte),
// without the last flush's 4 bytes.
func deflatePieces(t testing.TB, level int, msg []byte, pieces int) []byte {
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pieces {
		fw.Write(msg[i*len(msg)/pieces : (i+1)*len(msg)/pieces])
		fw.Flush()
	}
	return b.Bytes()[:b.Len()-4]
}

// inflateConn is a server Conn over a pipe with permessage-deflate agreed,
// fed wire, written in pieces of random sizes, and whose output is
// dropped.
func inflateConn(t *testing.T, opts ConnOptions, takeover bool, wire []byte, r *rand.Rand) *Conn {
	srvEnd, cliEnd := net.Pipe()
	t.Cleanup(func() { cliEnd.Close() })
	opts.CloseTimeout = time.Second
	c := newConn(srvEnd, nil, false, "", opts)
	t.Cleanup(func() { c.CloseNow() })
	c.deflate = newDeflateState(deflateAgreement{writeWindowBits: 15, readWindowBits: 15,
		readNoContextTakeover: !takeover, writeNoContextTakeover: !takeover}, CompressionOptions{})
	go io.Copy(io.Discard, cliEnd)
	sizes := make([]int, 0, 64)
	for n := len(wire); n > 0; {
		k := min(n, 1+r.IntN(1000))
		sizes = append(sizes, k)
		n -= k
	}
	go func() {
		for _, k := range sizes {
			if _, err := cliEnd.Write(wire[:k]); err != nil {
				return
			}
			wire = wire[k:]
		}
	}()
	return c
}

// fragmentFrames encodes payload as a message of frames of up to size
// bytes, masked, the first with RSV1 (if compressed), with a ping after
// each frame but the last.
func fragmentFrames(w *wireConn, op byte, compressed bool, payload []byte, size int) []byte {
	var out []byte
	first := true
	for {
		k := min(size, len(payload))
		fop := byte(opContinuation)
		if first {
			fop = op
		}
		f := w.frame(k == len(payload), fop, payload[:k])
		if first && compressed {
			f[0] |= bitRSV1
		}
		out = append(out, f...)
		payload = payload[k:]
		if len(payload) == 0 {
			return out
		}
		out = append(out, w.frame(true, byte(opPing), []byte("ping"))...)
		first = false
	}
}

// TestInflateFragmented reads compressed, masked messages cut into frames
// of many sizes with control frames between them, through read buffers of
// two sizes, as whole messages and a byte at a time: the decompressor
// takes the payload from the read buffer a chunk at a time, and must get
// every byte once, unmasked, and leave the stream at the next frame.
func TestInflateFragmented(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	msg := compressible(r, 6000)
	small := []byte("the end")
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression} {
		payload := deflatePieces(t, level, msg, 3)
		for _, size := range []int{1, 7, 300, 5000, 1 << 20} {
			for _, bufSize := range []int{0, 300} {
				for _, whole := range []bool{true, false} {
					name := fmt.Sprintf("level=%d/frame=%d/buf=%d/whole=%v", level, size, bufSize, whole)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						r := rand.New(rand.NewPCG(uint64(level+1), uint64(size)))
						w := &wireConn{mask: true}
						var wire []byte
						wire = append(wire, fragmentFrames(w, byte(opText), true, payload, size)...)
						wire = append(wire, fragmentFrames(w, byte(opBinary), true, deflatePieces(t, level, msg[:100], 1), size)...)
						wire = append(wire, fragmentFrames(w, byte(opText), false, small, 3)...)
						c := inflateConn(t, ConnOptions{ReadBufferSize: bufSize}, size%2 == 0, wire, r)
						ctx := connTestCtx(t)
						for i, want := range [][]byte{msg, msg[:100], small} {
							var got []byte
							var err error
							if whole {
								_, got, err = c.Read(ctx)
							} else {
								var rd io.Reader
								_, rd, err = c.Reader(ctx)
								if err == nil {
									got, err = io.ReadAll(iotest.OneByteReader(rd))
								}
							}
							if err != nil {
								t.Fatalf("message %d: %v", i, err)
							}
							if !bytes.Equal(got, want) {
								t.Fatalf("message %d: got %d bytes, want %d (equal prefix %d)", i, len(got), len(want), commonPrefix(got, want))
							}
						}
					})
				}
			}
		}
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestInflateDataAfterFinalBlock: a message whose DEFLATE data ends with a
// final block before the payload does fails with 1007, whether the bytes
// after it are in the same frame (taken from the read buffer along with
// the final block) or in another frame.
func TestInflateDataAfterFinalBlock(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	fw.Write([]byte("hello hello hello"))
	fw.Close() // a final block
	final := b.Bytes()
	extra := deflateBytes(t, []byte("more"))
	for _, tc := range []struct {
		name   string
		frames [][]byte
	}{
		{"same frame", [][]byte{append(append([]byte(nil), final...), extra...)}},
		{"next frame", [][]byte{final, extra}},
		{"empty next frame", [][]byte{final, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &wireConn{mask: true}
			var wire []byte
			for i, p := range tc.frames {
				op := byte(opContinuation)
				if i == 0 {
					op = byte(opText)
				}
				f := w.frame(i == len(tc.frames)-1, op, p)
				if i == 0 {
					f[0] |= bitRSV1
				}
				wire = append(wire, f...)
			}
			c := inflateConn(t, ConnOptions{}, false, wire, rand.New(rand.NewPCG(1, 1)))
			_, got, err := c.Read(connTestCtx(t))
			var perr ProtocolError
			if !errors.As(err, &perr) || perr.Code != StatusInvalidFramePayload {
				t.Fatalf("Read = %q, %v; want ProtocolError %d", got, err, StatusInvalidFramePayload)
			}
		})
	}
	t.Run("final block at the end", func(t *testing.T) {
		t.Parallel()
		w := &wireConn{mask: true}
		f := w.frame(true, byte(opText), final)
		f[0] |= bitRSV1
		c := inflateConn(t, ConnOptions{}, false, f, rand.New(rand.NewPCG(1, 1)))
		if _, got, err := c.Read(connTestCtx(t)); err != nil || string(got) != "hello hello hello" {
			t.Fatalf("Read = %q, %v", got, err)
		}
	})
}

// TestInflateCutShort: the connection ending inside a compressed message
// ends the read with an error, not a message.
func TestInflateCutShort(t *testing.T) {
	t.Parallel()
	payload := deflatePieces(t, flate.BestSpeed, compressible(rand.New(rand.NewPCG(5, 5)), 5000), 2)
	w := &wireConn{mask: true}
	f := w.frame(true, byte(opBinary), payload)
	f[0] |= bitRSV1
	for _, cut := range []int{len(f) / 3, len(f) - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			t.Parallel()
			srvEnd, cliEnd := net.Pipe()
			c := newConn(srvEnd, nil, false, "", ConnOptions{CloseTimeout: time.Second})
			defer c.CloseNow()
			c.deflate = newDeflateState(deflateAgreement{writeWindowBits: 15, readWindowBits: 15}, CompressionOptions{})
			go func() {
				cliEnd.Write(f[:cut])
				cliEnd.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, got, err := c.Read(ctx); err == nil {
				t.Fatalf("Read = %d bytes, nil error", len(got))
			}
		})
	}
}
