package websocket

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestConnReaderReadsWhatWasWritten reads a random stream with random
// Peek, Discard and Read calls, over TCP (the raw path, whose buffer comes
// and goes) and over a pipe (the plain path), with a prefix, and checks
// every byte against what was written.
func TestConnReaderReadsWhatWasWritten(t *testing.T) {
	for _, kind := range []string{"tcp", "tcp-pooled-size", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			var w, r net.Conn
			if kind != "pipe" {
				w, r = tcpPair(t)
			} else {
				w, r = net.Pipe()
				defer w.Close()
				defer r.Close()
			}
			rng := rand.New(rand.NewPCG(1, 2))
			want := make([]byte, 1<<20)
			for i := range want {
				want[i] = byte(rng.Uint32())
			}
			prefix := []byte("prefix bytes")
			go func() {
				// Writes of many sizes, so reads find the socket empty,
				// part-filled and full.
				rng := rand.New(rand.NewPCG(3, 4))
				p := want
				for len(p) > 0 {
					n := min(len(p), 1+rng.IntN(9000))
					if _, err := w.Write(p[:n]); err != nil {
						return
					}
					p = p[n:]
				}
				w.Close()
			}()
			size := 4096
			if kind == "tcp-pooled-size" {
				size = 0 // pooledReadBufferSize, and parks in a parkSize buffer
			}
			br := newConnReader(r, bytes.Clone(prefix), size)
			if kind != "pipe" && br.raw == nil {
				t.Fatal("no raw reader for a TCP connection")
			}
			all := append(bytes.Clone(prefix), want...)
			var got []byte
			for {
				var err error
				switch rng.IntN(3) {
				case 0:
					n := 1 + rng.IntN(2*parkSize) // past a park buffer's end
					var p []byte
					p, err = br.Peek(n)
					if err == nil && len(p) != n {
						t.Fatalf("Peek(%d) gave %d bytes", n, len(p))
					}
					if !bytes.Equal(p, all[len(got):len(got)+len(p)]) {
						t.Fatalf("Peek at %d: wrong bytes", len(got))
					}
					k := rng.IntN(len(p) + 1)
					br.Discard(k)
					got = append(got, all[len(got):len(got)+k]...)
				case 1:
					p := make([]byte, 1+rng.IntN(10000)) // some larger than the buffer
					var n int
					n, err = br.Read(p)
					got = append(got, p[:n]...)
				case 2:
					if n := br.Buffered(); n > 0 {
						p, _ := br.Peek(n)
						got = append(got, p...)
						br.Discard(n)
					}
				}
				if !bytes.Equal(got, all[:len(got)]) {
					t.Fatalf("byte %d read wrong", len(got))
				}
				if err != nil {
					if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("read error %v", err)
					}
					if br.Buffered() == 0 && len(got) == len(all) {
						break
					}
				}
			}
		})
	}
}

// TestConnReaderReleasesItsBuffer checks that a TCP connection's reader
// that has handed out all it read gives its buffer back when it waits for
// more, and takes one again when bytes come.
func TestConnReaderReleasesItsBuffer(t *testing.T) {
	w, r := tcpPair(t)
	br := newConnReader(r, nil, 4096)
	if br.buf != nil {
		t.Fatal("a new reader holds a buffer")
	}
	w.Write([]byte("hello"))
	p, err := br.Peek(5)
	if err != nil || string(p) != "hello" {
		t.Fatalf("Peek: %q %v", p, err)
	}
	if br.buf == nil {
		t.Fatal("no buffer behind peeked bytes")
	}
	br.Discard(5)
	// Wait for more, until a deadline: the socket is empty, so the
	// reader gives the buffer back before it parks.
	r.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Peek on an empty socket: %v, want a timeout", err)
	}
	if br.buf != nil {
		t.Error("buffer held while waiting on an empty socket")
	}
	r.SetReadDeadline(time.Time{})
	br.readErr()
	w.Write([]byte("again"))
	if p, err := br.Peek(5); err != nil || string(p) != "again" {
		t.Fatalf("Peek after the wait: %q %v", p, err)
	}
}

// TestConnReaderDefaultSize checks the buffer size 0 gives: a large one
// where it is pooled (TCP), a small one where it is kept (a pipe).
func TestConnReaderDefaultSize(t *testing.T) {
	_, r := tcpPair(t)
	if got := newConnReader(r, nil, 0).Size(); got != pooledReadBufferSize {
		t.Errorf("TCP: size %d, want %d", got, pooledReadBufferSize)
	}
	if got := newConnReader(r, nil, 4096).Size(); got != 4096 {
		t.Errorf("TCP, 4096 asked: size %d", got)
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if got := newConnReader(p, nil, 0).Size(); got != defaultReadBufferSize {
		t.Errorf("pipe: size %d, want %d", got, defaultReadBufferSize)
	}
}

// TestConnReaderParksSmall checks that a reader waiting for the rest of a
// frame header keeps the bytes it has in a parkSize buffer rather than a
// full one, and reads into a full one again when the peer goes on.
func TestConnReaderParksSmall(t *testing.T) {
	w, r := tcpPair(t)
	br := newConnReader(r, nil, 0)
	w.Write([]byte("he"))
	r.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := br.Peek(5); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Peek(5) of 2 bytes: %v, want a timeout", err)
	}
	if len(br.buf) != parkSize || string(br.buf[br.r:br.w]) != "he" {
		t.Fatalf("parked with a %d-byte buffer holding %q; want %d bytes holding \"he\"", len(br.buf), br.buf[br.r:br.w], parkSize)
	}
	r.SetReadDeadline(time.Time{})
	br.readErr()
	rest := bytes.Repeat([]byte("x"), 20000)
	go w.Write(append([]byte("llo"), rest...))
	if p, err := br.Peek(5); err != nil || string(p) != "hello" {
		t.Fatalf("Peek after the wait: %q %v", p, err)
	}
	if len(br.buf) != pooledReadBufferSize {
		t.Errorf("reading on with a %d-byte buffer, want %d", len(br.buf), pooledReadBufferSize)
	}
	br.Discard(5)
	got := make([]byte, 0, len(rest))
	for len(got) < len(rest) {
		p := make([]byte, 1000)
		n, err := br.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p[:n]...)
	}
	if !bytes.Equal(got, rest) {
		t.Error("bytes after the park read wrong")
	}
}

// TestConnReaderAllocs checks that reading, with the buffer coming and
// going, allocates nothing: the pool gives it back.
func TestConnReaderAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("under -race sync.Pool drops items at random: allocation counts mean nothing")
	}
	w, r := tcpPair(t)
	br := newConnReader(r, nil, 4096)
	msg := []byte("0123456789")
	allocs := testing.AllocsPerRun(100, func() {
		w.Write(msg)
		p, err := br.Peek(len(msg))
		if err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("Peek: %q %v", p, err)
		}
		br.Discard(len(msg))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read", allocs)
	}
}

// FuzzConnReader drives a TCP connection's reader with operations the
// input chooses: writes by the peer of the next bytes of a known stream,
// Peek, Discard, Read into fresh memory, and the scatter read ReadAppend
// makes (arm, await, disarm, the header discarded, a Read into the armed
// memory, in place). Every byte read must be the stream's next. Reads are
// asked for only when the peer has written enough, so none waits forever.
func FuzzConnReader(f *testing.F) {
	f.Add([]byte{0, 40, 3, 2, 9, 1, 200, 0, 255, 3, 7, 5, 1})
	f.Add([]byte{0, 255, 0, 255, 3, 8, 3, 2, 4, 100, 1, 17})
	f.Fuzz(func(t *testing.T, ops []byte) {
		w, r := tcpPair(t)
		stream := make([]byte, 1<<20)
		for i := range stream {
			stream[i] = byte(i*7 + i>>9)
		}
		br := newConnReader(r, nil, 0)
		br.spillHdr = 8
		written, got := 0, 0
		check := func(p []byte, what string) {
			t.Helper()
			if !bytes.Equal(p, stream[got:got+len(p)]) {
				t.Fatalf("%s at byte %d: wrong bytes", what, got)
			}
			got += len(p)
		}
		for len(ops) >= 2 {
			op, arg := ops[0]%5, int(ops[1])
			ops = ops[2:]
			avail := written - got
			switch op {
			case 0: // the peer writes
				n := min(len(stream)-written, 1+arg*arg)
				if _, err := w.Write(stream[written : written+n]); err != nil {
					t.Fatal(err)
				}
				written += n
			case 1: // Peek, and Discard part of it
				n := min(avail, 1+arg*2, parkSize)
				if n == 0 {
					continue
				}
				p, err := br.Peek(n)
				if err != nil {
					t.Fatalf("Peek(%d) with %d written: %v", n, avail, err)
				}
				k := min(len(p), arg)
				check(p[:k], "Peek")
				br.Discard(k)
			case 2: // Read into fresh memory
				if avail == 0 {
					continue
				}
				p := make([]byte, 1+arg*arg)
				n, err := br.Read(p)
				if err != nil {
					t.Fatal(err)
				}
				check(p[:n], "Read")
			case 3: // a scatter read, as ReadAppend makes it
				if avail == 0 {
					continue
				}
				dst := make([]byte, 4096+arg*64)
				br.arm(dst)
				br.await()
				br.disarm()
				h := br.buf[br.r:br.w]
				check(h, "header")
				br.Discard(len(h))
				if br.Buffered() == 0 {
					continue
				}
				// Part of it, as a payload shorter than the read.
				n, err := br.Read(dst[:1+arg*37%len(dst)])
				if err != nil {
					t.Fatal(err)
				}
				check(dst[:n], "in-place Read")
			case 4: // the guess of the header's length
				br.spillHdr = 2 + arg%20
			}
		}
		if br.spillTo != nil {
			t.Fatal("the reader is still armed")
		}
	})
}
