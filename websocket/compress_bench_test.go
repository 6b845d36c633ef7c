package websocket

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkCompressed sends compressible JSON-like messages from a client
// to a server that reads each into a reused buffer, with permessage-deflate
// and context takeover on and off. Allocations cover both sides.
func BenchmarkCompressed(b *testing.B) {
	for _, nct := range []bool{false, true} {
		for _, n := range []int{1 << 10, 16 << 10, 256 << 10} {
			name := fmt.Sprintf("takeover=%v/%dKiB", !nct, n>>10)
			b.Run(name, func(b *testing.B) {
				co := ConnOptions{Compression: CompressionOptions{Enabled: true, NoContextTakeover: nct}}
				srv, cli := loopbackPair(b, &AcceptOptions{ConnOptions: co}, &DialOptions{ConnOptions: co})
				// Distinct messages, so that context takeover is not
				// flattered by exact repeats.
				r := rand.New(rand.NewPCG(1, 2))
				msgs := make([][]byte, 16)
				wire := 0
				for i := range msgs {
					msgs[i] = compressible(r, n)
				}
				done := make(chan error, 1)
				go func() {
					buf := make([]byte, 0, n)
					for {
						_, p, err := srv.ReadAppend(context.Background(), buf[:0])
						if err != nil {
							done <- err
							return
						}
						buf = p
					}
				}()
				ctx := context.Background()
				b.SetBytes(int64(n))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := cli.Write(ctx, MessageText, msgs[i%len(msgs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.StopTimer()
				// The compressed size of one pass over the messages.
				d := cli.deflate
				for _, m := range msgs {
					p, _ := d.compress(m)
					wire += len(p)
					d.release()
				}
				b.ReportMetric(float64(n*len(msgs))/float64(wire), "ratio")
				cli.CloseNow()
				<-done
			})
		}
	}
}

// BenchmarkCompressionMemory reports the heap one connection keeps after it
// sent and received a compressed message: the compressor and decompressor
// state with context takeover, and what is left without.
func BenchmarkCompressionMemory(b *testing.B) {
	for _, mode := range []struct {
		name string
		co   CompressionOptions
	}{
		{"off", CompressionOptions{}},
		{"no_context_takeover", CompressionOptions{Enabled: true, NoContextTakeover: true}},
		{"takeover/window=15", CompressionOptions{Enabled: true}},
		{"takeover/window=10", CompressionOptions{Enabled: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 10}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			const pairs = 50
			msg := compressible(rand.New(rand.NewPCG(3, 4)), 4<<10)
			ctx := context.Background()
			co := ConnOptions{Compression: mode.co}
			var conns []*Conn
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range pairs {
				srv, cli := loopbackPair(b, &AcceptOptions{ConnOptions: co}, &DialOptions{ConnOptions: co})
				for _, dir := range [][2]*Conn{{cli, srv}, {srv, cli}} {
					go dir[0].Write(ctx, MessageText, msg)
					if _, _, err := dir[1].Read(ctx); err != nil {
						b.Fatal(err)
					}
				}
				conns = append(conns, srv, cli)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perConn := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(conns))
			for _, c := range conns {
				c.CloseNow()
			}
			// The figure is measured once; the loop only satisfies the
			// benchmark protocol.
			for b.Loop() {
			}
			b.ReportMetric(perConn, "heap-bytes/conn")
		})
	}
}

// BenchmarkReadDeflate reads compressed, masked messages over loopback TCP
// from a peer that sends the same frame over and over, with and without
// context takeover: the cost of the read path and the decompressor alone.
func BenchmarkReadDeflate(b *testing.B) {
	for _, takeover := range []bool{true, false} {
		for _, n := range []int{16 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("takeover=%v/%dKiB", takeover, n>>10), func(b *testing.B) {
				w, c := wireClient(b, nil)
				c.deflate = newDeflateState(deflateAgreement{writeWindowBits: 15, readWindowBits: 15,
					readNoContextTakeover: !takeover, writeNoContextTakeover: !takeover}, CompressionOptions{})
				msg := compressible(rand.New(rand.NewPCG(1, 2)), n)
				frame := encodeWire(true, byte(opText), deflateBytes(b, msg), []byte{0x12, 0x34, 0x56, 0x78})
				frame[0] |= bitRSV1
				floodWire(w.nc, frame)
				buf := make([]byte, 0, n)
				ctx := context.Background()
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					_, p, err := c.ReadAppend(ctx, buf[:0])
					if err != nil {
						b.Fatal(err)
					}
					if len(p) != n {
						b.Fatalf("read %d bytes", len(p))
					}
				}
			})
		}
	}
}
