package websocket

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime/debug"
	"testing"
)

// raceEnabled reports whether the test binary was built with -race, under
// which sync.Pool drops items at random and allocation counts mean nothing.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// drainWire reads and drops everything w's peer sends, until the
// connection ends.
func drainWire(w *wireConn) {
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.nc.Read(buf); err != nil {
				return
			}
		}
	}()
}

// floodWire writes frame over and over, until the connection ends.
func floodWire(nc net.Conn, frame []byte) {
	go func() {
		for {
			if _, err := nc.Write(frame); err != nil {
				return
			}
		}
	}()
}

// TestAllocs checks that whole messages are written and read without
// allocating, in steady state, over real TCP connections. Not parallel:
// AllocsPerRun counts the allocations of the whole process.
func TestAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("under -race sync.Pool drops items at random: allocation counts mean nothing")
	}
	const runs = 500
	msg := pattern(1, 1024, false)
	ctx := context.Background()

	t.Run("server Write", func(t *testing.T) {
		w, c := wireClient(t, nil)
		drainWire(w)
		checkAllocs(t, runs, func() error { return c.Write(ctx, MessageBinary, msg) })
	})
	t.Run("client Write", func(t *testing.T) {
		w, c := wireServer(t, nil)
		drainWire(w)
		checkAllocs(t, runs, func() error { return c.Write(ctx, MessageBinary, msg) })
	})
	t.Run("server Writer", func(t *testing.T) {
		w, c := wireClient(t, nil)
		drainWire(w)
		checkAllocs(t, runs, func() error { return writeStreamed(ctx, c, msg) })
	})
	t.Run("client Writer", func(t *testing.T) {
		w, c := wireServer(t, nil)
		drainWire(w)
		checkAllocs(t, runs, func() error { return writeStreamed(ctx, c, msg) })
	})
	t.Run("server ReadAppend", func(t *testing.T) {
		w, c := wireClient(t, nil)
		floodWire(w.nc, encodeWire(true, 0x2, msg, []byte{1, 2, 3, 4}))
		buf := make([]byte, 0, 2048)
		checkAllocs(t, runs, func() error {
			_, p, err := c.ReadAppend(ctx, buf[:0])
			if err == nil && len(p) != len(msg) {
				t.Fatalf("read %d bytes", len(p))
			}
			return err
		})
	})
	t.Run("server ReadAppend 16 KiB", func(t *testing.T) {
		// Scatter reads and reads ahead (see connReader.arm, readAhead).
		w, c := wireClient(t, nil)
		big := pattern(3, 16<<10, false)
		floodWire(w.nc, encodeWire(true, 0x2, big, []byte{1, 2, 3, 4}))
		buf := make([]byte, 0, 32<<10)
		checkAllocs(t, runs, func() error {
			_, p, err := c.ReadAppend(ctx, buf[:0])
			if err == nil && len(p) != len(big) {
				t.Fatalf("read %d bytes", len(p))
			}
			return err
		})
	})
	t.Run("client ReadAppend", func(t *testing.T) {
		w, c := wireServer(t, nil)
		floodWire(w.nc, encodeWire(true, 0x1, pattern(2, 1024, true), nil))
		buf := make([]byte, 0, 2048)
		checkAllocs(t, runs, func() error {
			_, _, err := c.ReadAppend(ctx, buf[:0])
			return err
		})
	})
	t.Run("server Reader", func(t *testing.T) {
		w, c := wireClient(t, nil)
		floodWire(w.nc, encodeWire(true, 0x2, msg, []byte{1, 2, 3, 4}))
		buf := make([]byte, 2048)
		checkAllocs(t, runs, func() error {
			_, r, err := c.Reader(ctx)
			if err != nil {
				return err
			}
			for {
				if _, err := r.Read(buf); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
			}
		})
	})
	t.Run("echo round trip", func(t *testing.T) {
		ao, do := pairOpts(true, ConnOptions{})
		srv, cli := loopbackPair(t, ao, do)
		echoUntilEnd(srv)
		buf := make([]byte, 0, 2048)
		checkAllocs(t, runs, func() error {
			if err := cli.Write(ctx, MessageBinary, msg); err != nil {
				return err
			}
			_, _, err := cli.ReadAppend(ctx, buf[:0])
			return err
		})
	})
	t.Run("Read allocates", func(t *testing.T) {
		// Read returns a new slice: the measurement must see it.
		w, c := wireClient(t, nil)
		floodWire(w.nc, encodeWire(true, 0x2, msg, []byte{1, 2, 3, 4}))
		allocs := testing.AllocsPerRun(runs, func() { c.Read(ctx) })
		if allocs < 1 {
			t.Errorf("%.2f allocations per Read, want at least 1", allocs)
		}
	})
	t.Run("ping", func(t *testing.T) {
		ao, do := pairOpts(true, ConnOptions{})
		srv, cli := loopbackPair(t, ao, do)
		readUntilEnd(srv)
		readUntilEnd(cli)
		// Ping makes a channel and a map entry for its pong: report,
		// do not require.
		allocs := testing.AllocsPerRun(runs, func() { cli.Ping(ctx) })
		t.Logf("%.1f allocations per Ping", allocs)
	})
}

// TestAllocsDeflate checks a compressed echo round trip (permessage-deflate,
// context takeover) does not allocate either.
func TestAllocsDeflate(t *testing.T) {
	if raceEnabled() {
		t.Skip("under -race sync.Pool drops items at random: allocation counts mean nothing")
	}
	srv, cli := deflatePair(t)
	if cli.deflate == nil {
		t.Fatal("permessage-deflate not agreed")
	}
	echoUntilEnd(srv)
	ctx := context.Background()
	msg := pattern(1, 1024, true)
	buf := make([]byte, 0, 2048)
	checkAllocs(t, 500, func() error {
		if err := cli.Write(ctx, MessageText, msg); err != nil {
			return err
		}
		_, p, err := cli.ReadAppend(ctx, buf[:0])
		if err == nil && len(p) != len(msg) {
			t.Fatalf("read %d bytes", len(p))
		}
		return err
	})
}

// TestReadCompressedSmall: a short compressed message read into no buffer
// gets one near its size, not a 4 KiB one; long ones still arrive whole,
// whatever buffer they are read into.
func TestReadCompressedSmall(t *testing.T) {
	srv, cli := deflatePair(t)
	echoUntilEnd(srv)
	ctx := context.Background()
	for _, n := range []int{300, 511, 512, 513, 5000, 1 << 20} {
		msg := pattern(n, n, true)
		if err := cli.Write(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		_, p, err := cli.Read(ctx)
		if err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("%d bytes: read %d, %v", n, len(p), err)
		}
		if n <= minInflatedGrow && cap(p) > minInflatedGrow {
			t.Errorf("a %d-byte message read into a buffer of %d", n, cap(p))
		}
		if cap(p) > 4*n+minInflatedGrow {
			t.Errorf("a %d-byte message read into a buffer of %d", n, cap(p))
		}
	}
}

// writeStreamed writes p as one message through Writer, in two pieces.
func writeStreamed(ctx context.Context, c *Conn, p []byte) error {
	w, err := c.Writer(ctx, MessageBinary)
	if err != nil {
		return err
	}
	w.Write(p[:len(p)/2])
	w.Write(p[len(p)/2:])
	return w.Close()
}

// checkAllocs fails t unless f runs without allocating.
func checkAllocs(t *testing.T, runs int, f func() error) {
	t.Helper()
	var err error
	allocs := testing.AllocsPerRun(runs, func() {
		if e := f(); e != nil && err == nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("%.2f allocations per message, want 0", allocs)
	}
}
