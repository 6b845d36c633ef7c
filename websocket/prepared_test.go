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
