package websocket

import (
	"context"
	"fmt"
	"testing"
)

// benchSizes are the message sizes of the read and write benchmarks.
var benchSizes = []struct {
	name string
	n    int
}{
	{"64B", 64},
	{"1KiB", 1 << 10},
	{"16KiB", 16 << 10},
	{"1MiB", 1 << 20},
}

// BenchmarkWrite writes binary messages over loopback TCP to a peer that
// drops them, from the server (unmasked) and the client (masked).
func BenchmarkWrite(b *testing.B) {
	for _, side := range []string{"server", "client"} {
		for _, size := range benchSizes {
			b.Run(side+"/"+size.name, func(b *testing.B) {
				var w *wireConn
				var c *Conn
				if side == "server" {
					w, c = wireClient(b, nil)
				} else {
					w, c = wireServer(b, nil)
				}
				drainWire(w)
				msg := pattern(1, size.n, false)
				ctx := context.Background()
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.Write(ctx, MessageBinary, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRead reads binary messages over loopback TCP from a peer that
// sends the same frame over and over: masked to the server, unmasked to the
// client.
func BenchmarkRead(b *testing.B) {
	for _, side := range []string{"server", "client"} {
		for _, size := range benchSizes {
			b.Run(side+"/"+size.name, func(b *testing.B) {
				var w *wireConn
				var c *Conn
				var key []byte
				if side == "server" {
					w, c = wireClient(b, nil)
					key = []byte{0x12, 0x34, 0x56, 0x78}
				} else {
					w, c = wireServer(b, nil)
				}
				floodWire(w.nc, encodeWire(true, 0x2, pattern(1, size.n, false), key))
				buf := make([]byte, 0, size.n)
				ctx := context.Background()
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					_, p, err := c.ReadAppend(ctx, buf[:0])
					if err != nil {
						b.Fatal(err)
					}
					if len(p) != size.n {
						b.Fatalf("read %d bytes", len(p))
					}
				}
			})
		}
	}
}

// BenchmarkEchoDeflate is a round trip of a compressible 16 KiB text
// message with permessage-deflate, against one without.
func BenchmarkEchoDeflate(b *testing.B) {
	for _, mode := range compressionModes {
		b.Run(mode.name, func(b *testing.B) {
			ao, do := pairOpts(mode.off, ConnOptions{})
			srv, cli := loopbackPair(b, ao, do)
			echoUntilEnd(srv)
			msg := []byte(fmt.Sprintf("%0*d", 16<<10, 0))
			for i := range msg {
				msg[i] = "the quick brown fox jumps over the lazy dog "[i%44]
			}
			buf := make([]byte, 0, len(msg))
			ctx := context.Background()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if err := cli.Write(ctx, MessageText, msg); err != nil {
					b.Fatal(err)
				}
				_, p, err := cli.ReadAppend(ctx, buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				buf = p // as a program reusing its buffer would
			}
		})
	}
}

// BenchmarkPing is a ping's round trip over loopback TCP: the client's
// Ping, the server's pong, and the client's reader waking the Ping.
func BenchmarkPing(b *testing.B) {
	srv, cli := loopbackPair(b, nil, nil)
	readUntilEnd(srv)
	readUntilEnd(cli)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := cli.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	sinkHeader header
	sinkInt    int
)

// BenchmarkFrameHeader encodes and decodes frame headers of each length
// encoding, masked.
func BenchmarkFrameHeader(b *testing.B) {
	for _, n := range []int64{125, 65535, 1 << 20} {
		h := header{fin: true, op: opBinary, masked: true, key: 0x01020304, length: n}
		var buf [maxHeaderSize]byte
		hl := putHeader(&buf, h)
		b.Run(fmt.Sprintf("encode/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkInt += putHeader(&buf, h)
			}
		})
		b.Run(fmt.Sprintf("decode/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkHeader, _ = parseHeader(buf[:hl])
			}
		})
	}
}

// BenchmarkWritePrepared writes prepared 64-byte messages from the server
// over loopback TCP to a peer that drops them, one per call and eight per
// call (what a writer behind on a broadcast does): per message.
func BenchmarkWritePrepared(b *testing.B) {
	for _, per := range []int{1, 8} {
		b.Run(fmt.Sprintf("%d-per-call", per), func(b *testing.B) {
			w, c := wireClient(b, nil)
			drainWire(w)
			pm, err := NewPreparedMessage(MessageBinary, pattern(1, 64, false))
			if err != nil {
				b.Fatal(err)
			}
			pms := make([]*PreparedMessage, per)
			for i := range pms {
				pms[i] = pm
			}
			ctx := context.Background()
			b.SetBytes(int64(64 * per))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WritePrepared(ctx, pms...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/msg")
		})
	}
}
