package websocket

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
)

// TestPreparedMessage: one prepared message written to server connections
// of every kind arrives intact everywhere; plain connections and
// no-context-takeover connections share one encoding each; a client
// connection encodes (masks) it itself.
func TestPreparedMessage(t *testing.T) {
	msg := compressible(rand.New(rand.NewPCG(5, 6)), 4000)
	pm, err := NewPreparedMessage(MessageText, msg)
	if err != nil {
		t.Fatal(err)
	}
	nct := ConnOptions{Compression: CompressionOptions{Enabled: true, NoContextTakeover: true}}
	off := ConnOptions{}
	type pair struct {
		name           string
		srv, cli       *Conn
		wantCompressed bool
	}
	var pairs []pair
	for range 2 {
		s, c := loopbackPair(t, &AcceptOptions{ConnOptions: off}, nil)
		pairs = append(pairs, pair{"plain", s, c, false})
		s, c = loopbackPair(t, &AcceptOptions{ConnOptions: nct}, &DialOptions{ConnOptions: deflateOn})
		pairs = append(pairs, pair{"no context takeover", s, c, true})
		s, c = deflatePair(t)
		pairs = append(pairs, pair{"context takeover", s, c, false})
	}
	ctx := connTestCtx(t)
	for _, p := range pairs {
		errc := make(chan error, 1)
		go func() { errc <- p.srv.WritePrepared(ctx, pm) }()
		typ, r, err := p.cli.Reader(ctx)
		if err != nil || typ != MessageText {
			t.Fatalf("%s: Reader: %v %v", p.name, typ, err)
		}
		if p.cli.mr.compressed != p.wantCompressed {
			t.Errorf("%s: compressed = %v, want %v", p.name, p.cli.mr.compressed, p.wantCompressed)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%s: got %d bytes, %v", p.name, len(got), err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(pm.frames); n != 2 {
		t.Errorf("%d encodings made for six connections of two kinds, want 2", n)
	}

	// A client connection masks with its own keys.
	srv, cli := loopbackPair(t, nil, nil)
	go func() { cli.WritePrepared(ctx, pm) }()
	if _, got, err := srv.Read(ctx); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("client WritePrepared: %v", err)
	}
}

// TestPreparedMessageAllocs: writing a prepared message that is already
// encoded does not allocate.
func TestPreparedMessageAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("under -race sync.Pool drops items at random")
	}
	srv, cli := loopbackPair(t, &AcceptOptions{}, nil)
	readUntilEnd(cli)
	pm, _ := NewPreparedMessage(MessageBinary, make([]byte, 1024))
	ctx := context.Background()
	if allocs := testing.AllocsPerRun(200, func() { srv.WritePrepared(ctx, pm) }); allocs != 0 {
		t.Errorf("%.2f allocations per WritePrepared, want 0", allocs)
	}
}

func TestNewPreparedMessageType(t *testing.T) {
	if _, err := NewPreparedMessage(MessageType(9), nil); err == nil {
		t.Error("a prepared message of type 9 was accepted")
	}
}

// TestWritePreparedMany: several prepared messages written in one call
// arrive in order, each a message of its own, on plain, compressed and
// client connections, across more than one vectored write; none is an
// empty call's error.
func TestWritePreparedMany(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var pms []*PreparedMessage
	var want [][]byte
	for i := range maxWriteBatch*2 + 3 {
		n := 10 + i*37%3000 // small (sent plain) and large (compressed where agreed)
		msg := compressible(rng, n)
		pm, err := NewPreparedMessage(MessageText, msg)
		if err != nil {
			t.Fatal(err)
		}
		pms, want = append(pms, pm), append(want, msg)
	}
	nct := ConnOptions{Compression: CompressionOptions{Enabled: true, NoContextTakeover: true}}
	ctx := connTestCtx(t)
	type pair struct {
		name           string
		writer, reader *Conn
	}
	s1, c1 := loopbackPair(t, nil, nil)
	s2, c2 := loopbackPair(t, &AcceptOptions{ConnOptions: nct}, &DialOptions{ConnOptions: deflateOn})
	s3, c3 := loopbackPair(t, nil, nil)
	for _, p := range []pair{{"plain", s1, c1}, {"compressed", s2, c2}, {"client", c3, s3}} {
		if err := p.writer.WritePrepared(ctx); err != nil {
			t.Fatalf("%s: WritePrepared of nothing: %v", p.name, err)
		}
		errc := make(chan error, 1)
		go func() { errc <- p.writer.WritePrepared(ctx, pms...) }()
		for i, w := range want {
			typ, got, err := p.reader.Read(ctx)
			if err != nil || typ != MessageText || !bytes.Equal(got, w) {
				t.Fatalf("%s: message %d: %v %d bytes %v, want text of %d bytes", p.name, i, typ, len(got), err, len(w))
			}
		}
		if err := <-errc; err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
}

// TestWritePreparedManyOnClosed: writing several messages to a closed
// connection returns its error, as a single write does.
func TestWritePreparedManyOnClosed(t *testing.T) {
	srv, _ := loopbackPair(t, nil, nil)
	pm, _ := NewPreparedMessage(MessageText, []byte("x"))
	srv.CloseNow()
	if err := srv.WritePrepared(context.Background(), pm, pm, pm); err == nil {
		t.Fatal("WritePrepared of three messages on a closed connection returned no error")
	}
}

// TestWritePreparedManyAllocs: writing several prepared messages that are
// already encoded does not allocate.
func TestWritePreparedManyAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("under -race sync.Pool drops items at random")
	}
	srv, cli := loopbackPair(t, &AcceptOptions{}, nil)
	readUntilEnd(cli)
	pm, _ := NewPreparedMessage(MessageBinary, make([]byte, 100))
	pms := []*PreparedMessage{pm, pm, pm, pm}
	ctx := context.Background()
	if allocs := testing.AllocsPerRun(200, func() { srv.WritePrepared(ctx, pms...) }); allocs != 0 {
		t.Errorf("%.2f allocations per WritePrepared of four messages, want 0", allocs)
	}
}
