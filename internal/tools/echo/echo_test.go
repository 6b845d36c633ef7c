package echo

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// TestEchoAndShutdown: messages come back with their type and bytes, and
// stopping the server closes open connections with 1001.
func TestEchoAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunListener(ctx, ln, Config{}) }()

	tctx, tcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer tcancel()
	c, _, err := websocket.Dial(tctx, "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, m := range []struct {
		typ websocket.MessageType
		p   []byte
	}{{websocket.MessageText, []byte("héllo")}, {websocket.MessageBinary, bytes.Repeat([]byte{0, 255}, 70000)}, {websocket.MessageText, nil}} {
		if err := c.Write(tctx, m.typ, m.p); err != nil {
			t.Fatal(err)
		}
		typ, p, err := c.Read(tctx)
		if err != nil || typ != m.typ || !bytes.Equal(p, m.p) {
			t.Fatalf("echo: type %v (want %v), %d bytes (want %d), err %v", typ, m.typ, len(p), len(m.p), err)
		}
	}
	cancel()
	_, _, err = c.Read(tctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("after shutdown Read = %v, want close 1001", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("RunListener = %v", err)
	}
}
