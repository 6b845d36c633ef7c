package server_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/load"
	"github.com/wsdeck/wsdeck/bench/internal/server"
)

// start serves the named library on a loopback port for the test's
// duration.
func start(t *testing.T, name string, opts server.Options) string {
	t.Helper()
	serve, err := server.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serve(ln, opts)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestEcho checks every server echoes every size intact, with and without
// compression, through the load generator's verifying mode.
func TestEcho(t *testing.T) {
	for _, name := range server.Names() {
		for _, compress := range []bool{false, true} {
			if compress && server.IsReference(name) {
				continue // the floors have no compression
			}
			t.Run(fmt.Sprintf("%s/compress=%v", name, compress), func(t *testing.T) {
				addr := start(t, name, server.Options{Mode: server.Echo, Compress: compress})
				for _, size := range []int{1, 64, 125, 126, 1024, 16 << 10, 65535, 65536, 200 << 10, 1 << 20} {
					// Two verified replies per connection; the
					// timeout only bounds a hang.
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					res, err := load.Echo(ctx, load.EchoConfig{
						Addr: addr, Conns: 3, Size: size, Compress: compress, Verify: true, Replies: 2,
					})
					cancel()
					if err != nil {
						t.Fatalf("size %d: %v", size, err)
					}
					if res.Msgs != 3*2 {
						t.Fatalf("size %d: %d replies, want 6", size, res.Msgs)
					}
				}
			})
		}
	}
}

func TestBroadcast(t *testing.T) {
	for _, name := range server.Names() {
		t.Run(name, func(t *testing.T) {
			addr := start(t, name, server.Options{Mode: server.Broadcast})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := load.Broadcast(ctx, load.BroadcastConfig{
				Addr: addr, Subs: 200, Rounds: 5, Size: 64,
				Gap: time.Millisecond, RoundTimeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Missed > 0 || res.Last.Count() != 5 {
				t.Fatalf("missed %d rounds, timed %d", res.Missed, res.Last.Count())
			}
		})
	}
}

func TestIdle(t *testing.T) {
	for _, name := range server.Names() {
		t.Run(name, func(t *testing.T) {
			addr := start(t, name, server.Options{Mode: server.Echo})
			conns, err := load.Idle(context.Background(), addr, 300)
			if err != nil {
				t.Fatal(err)
			}
			load.CloseAll(conns)
		})
	}
}
