package websocket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestCloseHandshake closes from each side with a code and reason: the
// other side's read reports them, both Closes see the handshake through,
// and both connections end.
func TestCloseHandshake(t *testing.T) {
	t.Parallel()
	for _, initiator := range []string{"client", "server"} {
		for _, tc := range []struct {
			code   StatusCode
			reason string
		}{
			{StatusNormalClosure, ""},
			{StatusGoingAway, "going away"},
			{StatusPolicyViolation, "policy"},
			{StatusTryAgainLater, ""},
			{3000, "registered"},
			{4999, "private ✓ reason"},
			{StatusNormalClosure, strings.Repeat("r", 123)},
			{StatusNoStatusRcvd, ""},
		} {
			t.Run(initiator+"/"+tc.code.String(), func(t *testing.T) {
				t.Parallel()
				srv, cli := loopbackPair(t, nil, nil)
				closer, peer := cli, srv
				if initiator == "server" {
					closer, peer = srv, cli
				}
				closed := make(chan error, 1)
				go func() { closed <- closer.Close(tc.code, tc.reason) }()
				_, _, err := peer.Read(connTestCtx(t))
				var ce CloseError
				if !errors.As(err, &ce) || ce.Code != tc.code || ce.Reason != tc.reason {
					t.Fatalf("peer Read = %v, want CloseError{%v, %q}", err, tc.code, tc.reason)
				}
				if CloseStatus(err) != tc.code {
					t.Errorf("CloseStatus = %v, want %v", CloseStatus(err), tc.code)
				}
				if err := <-closed; err != nil {
					t.Errorf("Close = %v", err)
				}
				waitDone(t, closer, connTestTimeout)
				waitDone(t, peer, connTestTimeout)
			})
		}
	}
}

// TestCloseWire looks at the close handshake on the wire: the close frame
// sent, the echo of a received one (its code, no reason), and the TCP
// connection closed by the server after it.
func TestCloseWire(t *testing.T) {
	t.Parallel()
	t.Run("server closes", func(t *testing.T) {
		t.Parallel()
		w, c := wireClient(t, nil)
		closed := make(chan error, 1)
		go func() { closed <- c.Close(4000, "bye now") }()
		f := w.readFrameT(t)
		if f.op != 0x8 || !f.fin || f.masked || f.closeCode() != 4000 || string(f.payload[2:]) != "bye now" {
			t.Fatalf("got %v %q, want a close frame 4000 \"bye now\"", f, f.payload)
		}
		w.writeClose(4000, "")
		if err := <-closed; err != nil {
			t.Errorf("Close = %v", err)
		}
		w.expectEOF(t)
	})
	for _, tc := range []struct {
		name    string
		payload []byte
		want    CloseError
		echo    []byte
	}{
		{"code and reason", []byte{0x0f, 0xa2, 'a', 'b', 'c'}, CloseError{4002, "abc"}, []byte{0x0f, 0xa2}},
		{"empty", nil, CloseError{Code: StatusNoStatusRcvd}, []byte{}},
	} {
		t.Run("client closes/"+tc.name, func(t *testing.T) {
			t.Parallel()
			w, c := wireClient(t, nil)
			w.writeFrame(true, 0x8, tc.payload)
			_, _, err := c.Read(connTestCtx(t))
			var ce CloseError
			if !errors.As(err, &ce) || ce != tc.want {
				t.Errorf("Read = %v, want %v", err, tc.want)
			}
			f := w.readFrameT(t)
			if f.op != 0x8 || !bytes.Equal(f.payload, tc.echo) {
				t.Errorf("got %v %x, want a close frame %x", f, f.payload, tc.echo)
			}
			w.expectEOF(t)
			waitDone(t, c, connTestTimeout)
		})
	}
}

// TestCloseInvalid: Close refuses codes and reasons that may not be sent,
// and sends nothing then.
func TestCloseInvalid(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	for _, tc := range []struct {
		code   StatusCode
		reason string
	}{
		{StatusNoStatusRcvd, "a reason without a code"},
		{StatusAbnormalClosure, ""},
		{StatusTLSHandshake, ""},
		{1004, ""},
		{1016, ""},
		{0, ""},
		{999, ""},
		{2999, ""},
		{5000, ""},
		{65535, ""},
		{StatusNormalClosure, strings.Repeat("r", 124)},
		{StatusNormalClosure, strings.Repeat("r", 122) + "é"}, // 124 bytes
		{StatusNormalClosure, "bad \xff utf-8"},
		{StatusNormalClosure, "cut \xe2\x82"},
	} {
		if err := c.Close(tc.code, tc.reason); err == nil {
			t.Fatalf("Close(%v, %d-byte reason) succeeded", tc.code, len(tc.reason))
		}
	}
	if !isOpen(c) {
		t.Fatal("a refused Close closed the connection")
	}
	// Nothing was sent: the next frames are these.
	if err := c.Write(connTestCtx(t), MessageText, []byte("still open")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	if f := w.readFrameT(t); f.op != 0x1 || string(f.payload) != "still open" {
		t.Fatalf("got %v %q, want the text message", f, f.payload)
	}
	if f := w.readFrameT(t); f.op != 0x8 || f.closeCode() != StatusNormalClosure {
		t.Fatalf("got %v, want the close frame", f)
	}
	w.writeClose(StatusNormalClosure, "")
	if err := <-closed; err != nil {
		t.Errorf("Close = %v", err)
	}
}

// TestCloseDrains: with nobody reading, Close reads and drops the data the
// peer still sends, answers no pings, and returns once the close frame
// comes.
func TestCloseDrains(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusGoingAway, "") }()
	if f := w.readFrameT(t); f.op != 0x8 || f.closeCode() != StatusGoingAway {
		t.Fatalf("got %v, want the close frame", f)
	}
	w.writeFrame(true, 0x1, []byte("still talking"))
	w.writeFrame(true, 0x2, pattern(1, 100000, false))
	w.writeFrame(false, 0x1, []byte("frag"))
	w.writeFrame(true, 0x9, []byte("ping in between"))
	w.writeFrame(true, 0x0, []byte("mented"))
	select {
	case err := <-closed:
		t.Fatalf("Close returned before the peer's close frame: %v", err)
	default:
	}
	w.writeClose(StatusGoingAway, "")
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(connTestTimeout):
		t.Fatal("Close did not return after the peer's close frame")
	}
	// No pong went out after the close frame; the connection ended.
	w.expectEOF(t)
}

// TestCloseWithReader: when another goroutine is reading, it receives what
// the peer sends after our close frame, then the peer's close, and Close
// returns.
func TestCloseWithReader(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	type msg struct {
		p   []byte
		err error
	}
	reads := make(chan msg, 8)
	go func() {
		for {
			_, p, err := c.Read(context.Background())
			reads <- msg{p, err}
			if err != nil {
				return
			}
		}
	}()
	// The pong shows the reader is reading: Close must leave the
	// reading to it.
	w.writeFrame(true, 0x9, []byte("reading?"))
	if f := w.readFrameT(t); f.op != 0xA {
		t.Fatalf("got %v, want a pong", f)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	if f := w.readFrameT(t); f.op != 0x8 {
		t.Fatalf("got %v, want the close frame", f)
	}
	w.writeFrame(true, 0x1, []byte("last words"))
	if m := <-reads; m.err != nil || string(m.p) != "last words" {
		t.Fatalf("reader got %q, %v", m.p, m.err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned before the peer's close frame: %v", err)
	default:
	}
	w.writeClose(4005, "ok")
	if m := <-reads; CloseStatus(m.err) != 4005 {
		t.Errorf("reader got %v, want the close frame 4005", m.err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close = %v", err)
	}
}

// TestCloseTimeout: a peer that never answers the close frame makes Close
// give up after CloseTimeout, with an error, and close the connection.
func TestCloseTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	for _, reading := range []bool{false, true} {
		name := "nobody reading"
		if reading {
			name = "reader running"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, c := wireClient(t, &AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: timeout}})
			readErr := make(chan error, 1)
			if reading {
				go func() {
					_, _, err := c.Read(context.Background())
					readErr <- err
				}()
				// The pong shows the reader is reading.
				w.writeFrame(true, 0x9, nil)
				if f := w.readFrameT(t); f.op != 0xA {
					t.Fatalf("got %v, want a pong", f)
				}
			}
			closed := make(chan error, 1)
			start := time.Now()
			go func() { closed <- c.Close(StatusNormalClosure, "") }()
			if f := w.readFrameT(t); f.op != 0x8 {
				t.Fatalf("got %v, want the close frame", f)
			}
			// The peer keeps quiet.
			select {
			case err := <-closed:
				el := time.Since(start)
				if err == nil {
					t.Error("Close succeeded without the peer's close frame")
				}
				if el < timeout || el > timeout+3*time.Second {
					t.Errorf("Close returned after %v with a CloseTimeout of %v", el, timeout)
				}
			case <-time.After(connTestTimeout):
				t.Fatal("Close did not return")
			}
			waitDone(t, c, connTestTimeout)
			w.expectEOF(t)
			if reading {
				if err := <-readErr; err == nil {
					t.Error("the reader got no error")
				}
			}
		})
	}
}

// TestCloseAfterDrop: Close on a connection whose peer went away without a
// close frame returns an error, promptly.
func TestCloseAfterDrop(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	w.nc.Close()
	start := time.Now()
	if err := c.Close(StatusNormalClosure, ""); err == nil {
		t.Error("Close succeeded after the peer dropped the connection")
	}
	if el := time.Since(start); el > DefaultCloseTimeout/2 {
		t.Errorf("Close took %v", el)
	}
	waitDone(t, c, connTestTimeout)
}

func TestCloseSimultaneous(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	errs := make(chan error, 2)
	go func() { errs <- srv.Close(StatusNormalClosure, "server") }()
	go func() { errs <- cli.Close(StatusGoingAway, "client") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Close = %v", err)
		}
	}
	waitDone(t, srv, connTestTimeout)
	waitDone(t, cli, connTestTimeout)
}

// TestCloseRace starts this side's close (Close or StartClose) just as the
// peer's close frame arrives, while a Read is waiting, many times over, as
// server and as client. Whichever wins, exactly one close frame from this
// side reaches the peer before the connection ends (RFC 6455 section
// 5.5.1): an echo of the peer's, or this side's own.
func TestCloseRace(t *testing.T) {
	t.Parallel()
	const rounds = 500
	for _, side := range []string{"server", "client"} {
		for _, how := range []string{"Close", "StartClose"} {
			t.Run(side+"/"+how, func(t *testing.T) {
				t.Parallel()
				for i := range rounds {
					if !closeRaceRound(t, side, how) {
						t.Fatalf("round %d of %d failed", i+1, rounds)
					}
				}
			})
		}
	}
}

// closeRaceRound is one round of TestCloseRace; it reports whether the
// round passed.
func closeRaceRound(t *testing.T, side, how string) bool {
	t.Helper()
	var w *wireConn
	var c *Conn
	if side == "server" {
		w, c = wireClient(t, nil)
	} else {
		w, c = wireServer(t, nil)
	}
	defer w.nc.Close()
	ctx := connTestCtx(t)
	read := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		read <- err
	}()
	start := make(chan struct{})
	closed := make(chan error, 1)
	go func() {
		<-start
		if how == "Close" {
			closed <- c.Close(StatusNormalClosure, "")
		} else {
			closed <- c.StartClose(StatusNormalClosure, "")
		}
	}()
	peerClose := w.frame(true, 0x8, rawClosePayload(uint16(StatusNormalClosure), ""))
	close(start)
	if _, err := w.nc.Write(peerClose); err != nil {
		t.Errorf("writing the peer's close frame: %v", err)
		return false
	}
	// Everything this side sends, up to the end of the connection.
	w.nc.SetReadDeadline(time.Now().Add(connTestTimeout))
	closes := 0
	for {
		f, err := w.readFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("after %d close frames: %v, want the end of the connection", closes, err)
			return false
		}
		if f.op != 0x8 {
			t.Errorf("got %v, want only a close frame", f)
			return false
		}
		if f.closeCode() != StatusNormalClosure {
			t.Errorf("close frame with code %v, want %v", f.closeCode(), StatusNormalClosure)
		}
		closes++
	}
	if closes != 1 {
		t.Errorf("%d close frames before the end of the connection, want 1", closes)
		return false
	}
	if err := <-read; CloseStatus(err) != StatusNormalClosure {
		t.Errorf("Read = %v, want the peer's close (1000)", err)
	}
	// Close or StartClose after the peer's close was answered reports the
	// connection closed; before, it succeeds.
	if err := <-closed; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("%s = %v, want nil or net.ErrClosed", how, err)
	}
	waitDone(t, c, connTestTimeout)
	return !t.Failed()
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	echoed := echoUntilEnd(srv)
	if err := cli.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close = %v", err)
	}
	<-echoed
	if err := cli.Close(StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if err := cli.CloseNow(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("CloseNow after Close = %v, want net.ErrClosed", err)
	}
	// The server answered the close: it is closed as well.
	if err := srv.Close(StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
		t.Errorf("server Close after the handshake = %v, want net.ErrClosed", err)
	}
}

func TestCloseNow(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	if err := cli.CloseNow(); err != nil {
		t.Fatalf("CloseNow = %v", err)
	}
	waitDone(t, cli, time.Second)
	if err := cli.CloseNow(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second CloseNow = %v, want net.ErrClosed", err)
	}
	if err := cli.Close(StatusNormalClosure, ""); err == nil {
		t.Error("Close after CloseNow succeeded")
	}
	if _, _, err := cli.Read(connTestCtx(t)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after CloseNow = %v, want net.ErrClosed", err)
	}
	// The peer sees the connection drop without a close frame.
	_, _, err := srv.Read(connTestCtx(t))
	if CloseStatus(err) != StatusAbnormalClosure {
		t.Errorf("peer Read = %v, want an abnormal closure (1006)", err)
	}
	var ce CloseError
	if errors.As(err, &ce) {
		t.Errorf("a dropped connection reported a close frame %+v: none came", ce)
	}
}
