package websocket

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestReadAppendScatter reads a random mix of messages over TCP with
// ReadAppend, as a server that reuses its buffer does: sizes across every
// header length (so that the guessed one is often wrong), fragments with
// pings between them, text and binary, the stream cut at random. Every
// message must come out whole, and on Linux some payload must have been
// read in place (straight into the caller's buffer by a scatter read):
// the writer waits, before some messages, until the reader has the one
// before, so that the reader finds its buffer empty when they arrive.
func TestReadAppendScatter(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		w, c := wireClient(t, nil)
		testReadAppendScatter(t, w, c, true)
	})
	t.Run("client", func(t *testing.T) {
		w, c := wireServer(t, nil)
		testReadAppendScatter(t, w, c, false)
	})
}

// testReadAppendScatter reads with c the messages it writes with w, whose
// frames are masked if masked (w plays the client).
func testReadAppendScatter(t *testing.T, w *wireConn, c *Conn, masked bool) {
	drainWire(w) // pongs
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := []int{0, 1, 125, 126, 1000, 4096, 16 << 10, 65535, 65536, 100000}
	type msg struct {
		typ     MessageType
		payload []byte
	}
	var msgs []msg
	var parts [][]byte // the wire bytes of each message
	var wire []byte
	for i := 0; i < 400; i++ {
		n := sizes[rng.IntN(len(sizes))]
		if rng.IntN(4) == 0 {
			n = rng.IntN(70000)
		}
		for run := 1 + rng.IntN(4); run > 0; run-- { // runs of one size: the guess is right
			m := msg{typ: MessageBinary, payload: pattern(len(msgs), n, false)}
			op := byte(0x2)
			if rng.IntN(3) == 0 {
				m.typ, m.payload, op = MessageText, pattern(len(msgs), n, true), 0x1
			}
			msgs = append(msgs, m)
			frames := 1
			if n > 1 && rng.IntN(5) == 0 {
				frames = 2 + rng.IntN(3)
			}
			p := m.payload
			for f := range frames {
				k := len(p)
				if f < frames-1 {
					k = rng.IntN(len(p) + 1)
				}
				fop := op
				if f > 0 {
					fop = 0x0
				}
				var key []byte
				if masked {
					key = []byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
				}
				wire = append(wire, encodeWire(f == frames-1, fop, p[:k], key)...)
				p = p[k:]
				if rng.IntN(6) == 0 {
					wire = append(wire, encodeWire(true, 0x9, []byte("ping"), key)...)
				}
			}
			parts = append(parts, wire)
			wire = nil
		}
	}
	read := make(chan int, len(msgs)) // the index of each message read
	go func() {
		rng := rand.New(rand.NewPCG(7, 8))
		done := -1
		for i, part := range parts {
			if rng.IntN(2) == 0 {
				for done < i-1 {
					done = <-read
				}
			}
			for p := part; len(p) > 0; {
				k := min(len(p), 1+rng.IntN(40000))
				if _, err := w.nc.Write(p[:k]); err != nil {
					return
				}
				p = p[k:]
			}
		}
	}()

	// A bound for a broken reader that waits for bytes it dropped.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var buf []byte
	for i, m := range msgs {
		if rng.IntN(10) == 0 {
			buf = nil // grow again from nothing
		}
		typ, p, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if typ != m.typ || !bytes.Equal(p, m.payload) {
			t.Fatalf("message %d (%d bytes, %v): read %d bytes of %v, wrong", i, len(m.payload), m.typ, len(p), typ)
		}
		if c.br.pending != nil || c.br.spillTo != nil {
			t.Fatalf("message %d: the reader kept the caller's memory", i)
		}
		buf = p
		read <- i
	}
	if haveReadv && c.br.inPlace == 0 {
		t.Error("no payload was read in place")
	}
	total := 0
	for _, m := range msgs {
		total += len(m.payload)
	}
	t.Logf("%d of %d payload bytes read in place", c.br.inPlace, total)
}
