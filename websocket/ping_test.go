package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// readUntilEnd reads from c until the connection ends, and reports the
// error that ended it.
func readUntilEnd(c *Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func TestPingPong(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	srvRead, cliRead := readUntilEnd(srv), readUntilEnd(cli)
	ctx := connTestCtx(t)
	var wg sync.WaitGroup
	for range 10 {
		for _, c := range []*Conn{srv, cli} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Ping(ctx); err != nil {
					t.Errorf("Ping: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	cli.Close(StatusNormalClosure, "")
	<-srvRead
	<-cliRead
}

// pendingPings returns how many Pings wait for their pong.
func pendingPings(c *Conn) int {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	return len(c.pings)
}

// TestPingWaitsForPong: Ping returns when the pong that carries its
// payload comes, not on another pong.
func TestPingWaitsForPong(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	read := readUntilEnd(c)
	pinged := make(chan error, 1)
	go func() { pinged <- c.Ping(connTestCtx(t)) }()
	ping := w.readFrameT(t)
	if ping.op != 0x9 || ping.masked || !ping.fin {
		t.Fatalf("got %v, want a ping", ping)
	}
	// Pongs that are not the answer, then a ping of our own: its pong
	// shows the connection has read them.
	w.writeFrame(true, 0xA, []byte("unsolicited"))
	w.writeFrame(true, 0xA, nil)
	w.writeFrame(true, 0xA, append(bytes.Clone(ping.payload), 0))
	w.writeFrame(true, 0x9, []byte("sync"))
	if f := w.readFrameT(t); f.op != 0xA || string(f.payload) != "sync" {
		t.Fatalf("got %v %q, want pong \"sync\"", f, f.payload)
	}
	if n := pendingPings(c); n != 1 {
		t.Fatalf("%d pings pending after the wrong pongs, want 1", n)
	}
	w.writeFrame(true, 0xA, ping.payload)
	if err := <-pinged; err != nil {
		t.Errorf("Ping = %v", err)
	}
	if n := pendingPings(c); n != 0 {
		t.Errorf("%d pings pending after the pong", n)
	}
	c.CloseNow()
	<-read
}

// TestPingAnsweredByLater: a peer may answer only the latest of several
// pings (RFC 6455 section 5.5.3), so a pong ends the Ping it answers and
// every Ping sent before it; one that answers no ping sent yet ends none.
func TestPingAnsweredByLater(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	read := readUntilEnd(c)
	pinged := make(chan error, 2)
	for range 2 {
		go func() { pinged <- c.Ping(connTestCtx(t)) }()
	}
	first, second := w.readFrameT(t), w.readFrameT(t)
	if first.op != 0x9 || second.op != 0x9 {
		t.Fatalf("got %v and %v, want two pings", first, second)
	}
	// A pong for a ping not sent, then a ping of our own: its pong shows
	// the connection has read it.
	notSent := binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(second.payload)+1)
	w.writeFrame(true, 0xA, notSent)
	w.writeFrame(true, 0x9, []byte("sync"))
	if f := w.readFrameT(t); f.op != 0xA || string(f.payload) != "sync" {
		t.Fatalf("got %v %q, want pong \"sync\"", f, f.payload)
	}
	if n := pendingPings(c); n != 2 {
		t.Fatalf("%d pings pending after a pong for a ping not sent, want 2", n)
	}
	w.writeFrame(true, 0xA, second.payload)
	for range 2 {
		if err := <-pinged; err != nil {
			t.Errorf("Ping = %v", err)
		}
	}
	c.CloseNow()
	<-read
}

// TestPingCtx: a peer that never answers leaves Ping to its ctx; the
// connection stays open.
func TestPingCtx(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	read := readUntilEnd(c)
	const d = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := c.Ping(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping = %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el < d || el > d+3*time.Second {
		t.Errorf("Ping returned after %v with a ctx of %v", el, d)
	}
	if f := w.readFrameT(t); f.op != 0x9 {
		t.Errorf("got %v, want the ping", f)
	}
	if !isOpen(c) || pendingPings(c) != 0 {
		t.Errorf("after the ctx: open %v, %d pings pending", isOpen(c), pendingPings(c))
	}
	// A late pong is ignored, and the connection still works.
	w.writeFrame(true, 0xA, make([]byte, 8))
	if err := c.Write(connTestCtx(t), MessageText, []byte("fine")); err != nil {
		t.Fatal(err)
	}
	if f := w.readFrameT(t); string(f.payload) != "fine" {
		t.Errorf("got %v, want the message", f)
	}
	c.CloseNow()
	<-read
}

// TestPingConnectionEnds: a Ping waiting for its pong returns when the
// connection ends.
func TestPingConnectionEnds(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	read := readUntilEnd(c)
	pinged := make(chan error, 1)
	go func() { pinged <- c.Ping(connTestCtx(t)) }()
	w.readFrameT(t)
	w.nc.Close()
	select {
	case err := <-pinged:
		if err == nil {
			t.Error("Ping succeeded")
		}
	case <-time.After(connTestTimeout):
		t.Fatal("Ping did not return when the connection ended")
	}
	<-read
}

// TestPingAnswered: a ping from the peer gets a pong with the same payload,
// masked by a client, not by a server, even while a message is being read.
func TestPingAnswered(t *testing.T) {
	t.Parallel()
	payloads := [][]byte{nil, []byte("hello"), pattern(1, 125, false)}
	for _, side := range []string{"server", "client"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			var w *wireConn
			var c *Conn
			if side == "server" {
				w, c = wireClient(t, nil)
			} else {
				w, c = wireServer(t, nil)
			}
			msgs := make(chan []byte, 1)
			go func() {
				_, p, _ := c.Read(context.Background())
				msgs <- p
			}()
			w.writeFrame(false, 0x1, []byte("a message "))
			for _, p := range payloads {
				w.writeFrame(true, 0x9, p)
				f := w.readFrameT(t)
				if f.op != 0xA || !f.fin || !bytes.Equal(f.payload, p) {
					t.Errorf("got %v %q, want a pong %q", f, f.payload, p)
				}
				if f.masked != (side == "client") {
					t.Errorf("pong masked %v from the %s", f.masked, side)
				}
			}
			w.writeFrame(true, 0x0, []byte("around pings"))
			if p := <-msgs; string(p) != "a message around pings" {
				t.Errorf("message %q", p)
			}
		})
	}
}

// TestPingAfterClose: once the close frame is out, Ping fails without
// sending anything: the peer may close the TCP connection as soon as it
// answers, and an unread ping would make it reset the connection.
func TestPingAfterClose(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "") }()
	if f := w.readFrameT(t); f.op != 0x8 {
		t.Fatalf("got %v, want the close frame", f)
	}
	if err := c.Ping(connTestCtx(t)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Ping during the close handshake = %v, want net.ErrClosed", err)
	}
	w.writeClose(StatusNormalClosure, "")
	if err := <-closed; err != nil {
		t.Errorf("Close = %v", err)
	}
	w.expectEOF(t) // and not a ping
}

// TestKeepalive pings with PingInterval: a peer that answers keeps the
// connection, one that stops answering loses it, and the keepalive
// goroutine ends with the connection. Not parallel: it looks for the
// keepalive goroutines of the whole process.
func TestKeepalive(t *testing.T) {
	const interval = 20 * time.Millisecond
	// A peer that answers gets a generous PingTimeout: -race and a busy
	// machine can delay a pong far past the interval.
	opts := &AcceptOptions{ConnOptions: ConnOptions{PingInterval: interval, PingTimeout: connTestTimeout}}

	t.Run("answered", func(t *testing.T) {
		w, c := wireClient(t, opts)
		read := readUntilEnd(c)
		// Each ping comes only after the previous one was answered: the
		// keepalive stops at the first one that is not.
		for i := range 10 {
			f := w.readFrameT(t)
			if f.op != 0x9 {
				t.Fatalf("frame %d: %v, want a ping", i, f)
			}
			w.writeFrame(true, 0xA, f.payload)
		}
		if !isOpen(c) {
			t.Fatal("the connection was closed")
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close(StatusNormalClosure, "") }()
		for {
			f := w.readFrameT(t)
			if f.op == 0x8 {
				break
			}
			if f.op == 0x9 {
				w.writeFrame(true, 0xA, f.payload)
			}
		}
		w.writeClose(StatusNormalClosure, "")
		if err := <-closed; err != nil {
			t.Errorf("Close = %v", err)
		}
		<-read
		wstest.CheckLeaks(t, "github.com/wsdeck/wsdeck/websocket.(*Conn).keepalive")
	})

	t.Run("unanswered", func(t *testing.T) {
		w, c := wireClient(t, &AcceptOptions{ConnOptions: ConnOptions{PingInterval: interval}})
		read := readUntilEnd(c)
		for range 3 {
			f := w.readFrameT(t)
			w.writeFrame(true, 0xA, f.payload)
		}
		// Now read and ignore.
		go func() {
			for {
				if _, err := w.readFrame(); err != nil {
					return
				}
			}
		}()
		waitDone(t, c, connTestTimeout)
		if err := <-read; err == nil || !strings.Contains(err.Error(), "keepalive") {
			t.Errorf("the reader got %v, want a keepalive error", err)
		}
		wstest.CheckLeaks(t, "github.com/wsdeck/wsdeck/websocket.(*Conn).keepalive")
	})

	t.Run("both sides", func(t *testing.T) {
		co := opts.ConnOptions
		srv, cli := loopbackPair(t, &AcceptOptions{ConnOptions: co}, &DialOptions{ConnOptions: co})
		srvRead, cliRead := readUntilEnd(srv), readUntilEnd(cli)
		// Several rounds of messages both ways over several intervals.
		ctx := connTestCtx(t)
		deadline := time.Now().Add(10 * interval)
		for time.Now().Before(deadline) {
			if err := cli.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}
		if !isOpen(srv) || !isOpen(cli) {
			t.Fatal("keepalive closed a live connection")
		}
		if err := cli.Close(StatusNormalClosure, ""); err != nil {
			t.Errorf("Close = %v", err)
		}
		<-srvRead
		<-cliRead
		wstest.CheckLeaks(t, "github.com/wsdeck/wsdeck/websocket.(*Conn).keepalive")
	})
}

// shrinkBuffers makes the socket buffers of c (for writing) and of its
// wire peer (for reading) small, so that a peer that does not read blocks
// c's writes soon.
func shrinkBuffers(t *testing.T, w *wireConn, c *Conn) {
	t.Helper()
	shrinkWriteBuffer(t, c)
	if err := w.nc.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
}

// shrinkWriteBuffer makes c's socket send buffer small.
func shrinkWriteBuffer(t *testing.T, c *Conn) {
	t.Helper()
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a TCP connection", c.nc)
	}
	if err := tc.SetWriteBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
}

// TestPingFloodReadCtx: a peer that sends pings without end and never reads
// fills the socket with pongs; a Read still ends with its ctx, with the
// ctx's error, and nothing of the connection is left running. Not parallel:
// it looks for the goroutines of every Conn.
func TestPingFloodReadCtx(t *testing.T) {
	for _, side := range []string{"server", "client"} {
		t.Run(side, func(t *testing.T) {
			var w *wireConn
			var c *Conn
			if side == "server" {
				w, c = wireClient(t, nil)
			} else {
				w, c = wireServer(t, nil)
			}
			shrinkBuffers(t, w, c)
			floodWire(w.nc, w.frame(true, 0x9, pattern(1, maxControlPayload, false)))
			const d = 500 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			res := make(chan error, 1)
			go func() {
				_, _, err := c.Read(ctx)
				res <- err
			}()
			select {
			case err := <-res:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Read = %v, want context.DeadlineExceeded", err)
				}
			case <-time.After(connTestTimeout):
				w.nc.Close() // lets the Read go
				<-res
				t.Fatalf("Read still blocked %v after its ctx of %v ended", connTestTimeout, d)
			}
			waitDone(t, c, connTestTimeout)
			wstest.CheckLeaks(t, "github.com/wsdeck/wsdeck/websocket.(*Conn)")
		})
	}
}

// TestPingWhileWriteBlocked: pings that come while a Write is blocked on a
// peer that does not read do not hold up the reader, which goes on to the
// message after them. Once the peer reads, the Write's message is followed
// by pongs in the order of their pings, at most maxOwedPongs of them, the
// last the latest ping's (RFC 6455 section 5.5.3 allows answering only the
// most recent ping), and then nothing until the close frame.
func TestPingWhileWriteBlocked(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"server", "client"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			var w *wireConn
			var c *Conn
			if side == "server" {
				w, c = wireClient(t, nil)
			} else {
				w, c = wireServer(t, nil)
			}
			// The peer's receive buffer keeps its size: it has to take
			// the message at speed once it reads.
			shrinkWriteBuffer(t, c)
			ctx := connTestCtx(t)
			big := pattern(2, 4<<20, false)
			wrote := make(chan error, 1)
			go func() { wrote <- c.Write(ctx, MessageBinary, big) }()
			// The Write holds the frame lock until the peer has read it all.
			wstest.WaitFor(t, connTestTimeout, func() bool { return c.frameMu.state.Load()&mutexLocked != 0 },
				"the Write did not begin")
			const pings = 3 * maxOwedPongs
			for i := range pings {
				w.writeFrame(true, 0x9, []byte{byte(i)})
			}
			w.writeFrame(true, 0x1, []byte("after the pings"))
			type result struct {
				p   []byte
				err error
			}
			read := make(chan result, 1)
			go func() {
				_, p, err := c.Read(ctx)
				read <- result{p, err}
			}()
			select {
			case r := <-read:
				if r.err != nil || string(r.p) != "after the pings" {
					t.Fatalf("Read = %q, %v; want the message after the pings", r.p, r.err)
				}
			case <-time.After(connTestTimeout / 2): // well before ctx ends the Read
				c.CloseNow() // lets the Read and the Write go
				<-read
				<-wrote
				t.Fatal("Read blocked behind the Write")
			}
			if f := w.readFrameT(t); f.op != 0x2 || !bytes.Equal(f.payload, big) {
				t.Fatalf("got %v, want the message written", f)
			}
			if err := <-wrote; err != nil {
				t.Fatalf("Write = %v", err)
			}
			last, pongs := -1, 0
			for last != pings-1 {
				f := w.readFrameT(t)
				if f.op != 0xA || len(f.payload) != 1 || int(f.payload[0]) <= last {
					t.Fatalf("got %v %x after the pong of ping %d, want the pong of a later ping", f, f.payload, last)
				}
				last = int(f.payload[0])
				pongs++
			}
			if pongs > maxOwedPongs {
				t.Errorf("%d pongs after the Write, want at most %d", pongs, maxOwedPongs)
			}
			closed := make(chan error, 1)
			go func() { closed <- c.Close(StatusNormalClosure, "") }()
			if f := w.readFrameT(t); f.op != 0x8 {
				t.Fatalf("got %v %q, want the close frame", f, f.payload)
			}
			w.writeClose(StatusNormalClosure, "")
			if err := <-closed; err != nil {
				t.Errorf("Close = %v", err)
			}
		})
	}
}
