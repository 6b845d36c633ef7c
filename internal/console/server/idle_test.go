package server

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// idleConns is how many idle sockets BenchmarkIdleSocket opens.
const idleConns = 2000

// BenchmarkIdleSocket reports what one idle console socket costs the
// server: a Monitor viewer that got its backfill and waits (samples an
// hour apart). The figures are per connection, after garbage collection:
// goroutines, goroutine stack bytes, and live heap bytes (the client's end,
// a bare net.Conn with no goroutine, measured apart and taken out). Run it
// once:
//
//	go test -run '^$' -bench IdleSocket -benchtime 1x ./internal/console/server/
//
// Compare with the bench module's idle figure for the websocket package
// alone (bench/RESULTS.md, "Memory per idle connection").
func BenchmarkIdleSocket(b *testing.B) {
	ts := start(b, Config{
		MaxConns:          idleConns + 10,
		MaxConnsPerClient: idleConns + 10,
		Monitor:           monitorOptions(time.Hour),
		Logger:            slog.New(slog.DiscardHandler),
	})
	addr := ts.Addr().String()
	warmGoroutines(2 * idleConns)
	clientHeap := bareConnHeap(b, idleConns)
	for b.Loop() {
		g0, h0, s0 := memFigures()
		conns := make([]net.Conn, 0, idleConns)
		for range idleConns {
			conns = append(conns, openIdle(b, addr, "/ws/monitor"))
		}
		// Every socket is served and idle: its viewer joined, and its
		// backfill is written (the client read it).
		deadline := time.Now().Add(testTimeout)
		for ts.sockets.count() != idleConns {
			if time.Now().After(deadline) {
				b.Fatalf("%d sockets open, want %d", ts.sockets.count(), idleConns)
			}
			time.Sleep(10 * time.Millisecond)
		}
		g1, h1, s1 := memFigures()
		n := float64(idleConns)
		b.ReportMetric(float64(g1-g0)/n, "goroutines/conn")
		b.ReportMetric(float64(s1-s0)/n, "stack-B/conn")
		b.ReportMetric((float64(h1-h0)-float64(clientHeap))/n, "heap-B/conn")
		b.ReportMetric(float64(h1-h0+s1-s0-clientHeap)/n, "total-B/conn")
		for _, c := range conns {
			c.Close()
		}
		for ts.sockets.count() != 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%d sockets still open", ts.sockets.count())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// memFigures collects garbage and returns the goroutines, the live heap
// and the goroutine stacks in use.
func memFigures() (goroutines int, heap, stacks uint64) {
	runtime.GC()
	runtime.GC() // again, to empty sync.Pool's victim cache
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc, ms.StackInuse
}

// bareConnHeap returns the live heap that n bare loopback TCP client
// connections hold: half of what n connected pairs hold.
func bareConnHeap(b *testing.B, n int) uint64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	_, h0, _ := memFigures()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c, <-accepted)
	}
	_, h1, _ := memFigures()
	for _, c := range conns {
		c.Close()
	}
	return (h1 - h0) / 2
}

// openIdle opens a WebSocket to path with a bare connection (a hand-made
// handshake, no goroutine, no library state on the client's side), reads
// the endpoint's first message, and returns the connection.
func openIdle(b *testing.B, addr, path string) net.Conn {
	b.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		b.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testTimeout))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		"Authorization: Bearer %s\r\n\r\n", path, addr, testToken)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: %s", resp.Status)
	}
	// The first frame: a text frame, unmasked, its length in 7, 16 or 64
	// bits.
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		b.Fatal(err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		io.ReadFull(br, l[:])
		n = uint64(l[0])<<8 | uint64(l[1])
	case 127:
		var l [8]byte
		io.ReadFull(br, l[:])
		n = 0
		for _, x := range l {
			n = n<<8 | uint64(x)
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		b.Fatal(err)
	}
	if h[0]&0x0f != 1 || !strings.HasPrefix(string(p), "{") {
		b.Fatalf("first frame: opcode %d, %.60q", h[0]&0x0f, p)
	}
	if br.Buffered() > 0 {
		b.Fatalf("%d bytes after the first frame", br.Buffered())
	}
	c.SetDeadline(time.Time{})
	return c
}
