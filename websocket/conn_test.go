package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// compressionModes runs a test with permessage-deflate agreed (the
// default) and without.
var compressionModes = []struct {
	name string
	off  bool
}{
	{"deflate", false},
	{"plain", true},
}

// deflateOn is the options of a side that enables permessage-deflate with
// its defaults.
var deflateOn = ConnOptions{Compression: CompressionOptions{Enabled: true}}

// deflatePair returns a connected pair that agreed permessage-deflate with
// the defaults, context takeover.
func deflatePair(t testing.TB) (srv, cli *Conn) {
	t.Helper()
	return loopbackPair(t, &AcceptOptions{ConnOptions: deflateOn}, &DialOptions{ConnOptions: deflateOn})
}

// pairOpts returns options for both sides with compression on or off and
// the given connection options.
func pairOpts(off bool, co ConnOptions) (*AcceptOptions, *DialOptions) {
	co.Compression.Enabled = !off
	return &AcceptOptions{ConnOptions: co}, &DialOptions{ConnOptions: co}
}

// echoUntilEnd echoes messages on c until the connection ends, and reports the
// error that ended it.
func echoUntilEnd(c *Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx := context.Background()
		var buf []byte
		for {
			typ, p, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				done <- err
				return
			}
			buf = p
			if err := c.Write(ctx, typ, p); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

var echoSizes = []int{0, 1, 125, 126, 127, 1000, 4095, 4096, 4097, 65535, 65536, 65537, 1 << 20}

func TestConnEcho(t *testing.T) {
	t.Parallel()
	for _, mode := range compressionModes {
		for _, dir := range []string{"client writes", "server writes"} {
			t.Run(mode.name+"/"+dir, func(t *testing.T) {
				t.Parallel()
				ao, do := pairOpts(mode.off, ConnOptions{})
				srv, cli := loopbackPair(t, ao, do)
				if got := srv.deflate != nil; got == mode.off {
					t.Fatalf("permessage-deflate agreed: %v", got)
				}
				driver, echoer := cli, srv
				if dir == "server writes" {
					driver, echoer = srv, cli
				}
				echoed := echoUntilEnd(echoer)
				for _, n := range echoSizes {
					for _, typ := range []MessageType{MessageText, MessageBinary} {
						msg := pattern(n, n, typ == MessageText)
						echoOnce(t, driver, typ, msg)
					}
				}
				// Incompressible data, through the compressor and back.
				random := make([]byte, 100000)
				for i := range random {
					random[i] = byte(i*i*7919 + i>>3)
				}
				echoOnce(t, driver, MessageBinary, random)
				echoOnce(t, driver, MessageText, []byte("héllo wörld ✓ 😀"))

				if err := driver.Close(StatusNormalClosure, "done"); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := <-echoed; CloseStatus(err) != StatusNormalClosure {
					t.Errorf("echo loop ended with %v, want a close 1000", err)
				}
			})
		}
	}
}

func TestConnWriteInvalidType(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	for _, typ := range []MessageType{0, 3, 8, 9, 10} {
		if err := cli.Write(connTestCtx(t), typ, []byte("x")); err == nil {
			t.Errorf("Write of %v succeeded", typ)
		}
		if _, err := cli.Writer(connTestCtx(t), typ); err == nil {
			t.Errorf("Writer of %v succeeded", typ)
		}
	}
	// The connection is still usable.
	echoed := echoUntilEnd(srv)
	echoOnce(t, cli, MessageText, []byte("still here"))
	cli.CloseNow()
	<-echoed
}

// TestConnWriterFrames looks at the frames Writer sends, on the wire: with a
// small buffer, a message written in pieces goes out in several frames, the
// first with the message's opcode, the others continuations, FIN on the
// last only.
func TestConnWriterFrames(t *testing.T) {
	t.Parallel()
	co := ConnOptions{WriteBufferSize: 256}
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			var w *wireConn
			var c *Conn
			if side == "client" {
				w, c = wireServer(t, &DialOptions{ConnOptions: co})
			} else {
				w, c = wireClient(t, &AcceptOptions{ConnOptions: co})
			}
			ctx := connTestCtx(t)
			mw, err := c.Writer(ctx, MessageText)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for i, n := range []int{100, 200, 300, 1000, 1, 0, 50} {
				p := pattern(i, n, true)
				if k, err := mw.Write(p); err != nil || k != n {
					t.Fatalf("Write(%d bytes) = %d, %v", n, k, err)
				}
				want = append(want, p...)
			}
			if err := mw.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := mw.Write([]byte("x")); err == nil {
				t.Error("Write after Close succeeded")
			}
			if err := mw.Close(); err == nil {
				t.Error("second Close succeeded")
			}
			var got []byte
			frames := 0
			for {
				f := w.readFrameT(t)
				if f.masked != (side == "client") {
					t.Fatalf("%v from the %s", f, side)
				}
				wantOp := byte(0x0)
				if frames == 0 {
					wantOp = 0x1
				}
				if f.op != wantOp || f.rsv != 0 {
					t.Fatalf("frame %d: %v rsv %#x, want op %#x", frames, f, f.rsv, wantOp)
				}
				frames++
				got = append(got, f.payload...)
				if f.fin {
					break
				}
			}
			// Writes that fill the buffer flush it; one larger than the
			// buffer goes out as a frame of its own.
			if frames < 4 {
				t.Errorf("%d frames for %d bytes with a 256-byte buffer", frames, len(want))
			}
			if !bytes.Equal(got, want) {
				t.Errorf("message of %d bytes, want %d", len(got), len(want))
			}

			// A write larger than the buffer at once.
			mw, err = c.Writer(ctx, MessageBinary)
			if err != nil {
				t.Fatal(err)
			}
			big := pattern(9, 5000, false)
			mw.Write(big)
			if err := mw.Close(); err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for {
				f := w.readFrameT(t)
				got = append(got, f.payload...)
				if f.fin {
					break
				}
			}
			if !bytes.Equal(got, big) {
				t.Errorf("message of %d bytes, want %d", len(got), len(big))
			}
		})
	}
}

// TestConnWriterWhole streams messages in pieces and reads them whole.
func TestConnWriterWhole(t *testing.T) {
	t.Parallel()
	for _, mode := range compressionModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ao, do := pairOpts(mode.off, ConnOptions{WriteBufferSize: 256})
			srv, cli := loopbackPair(t, ao, do)
			ctx := connTestCtx(t)
			for _, c := range []struct{ w, r *Conn }{{cli, srv}, {srv, cli}} {
				for _, pieces := range []int{1, 3, 40} {
					mw, err := c.w.Writer(ctx, MessageBinary)
					if err != nil {
						t.Fatal(err)
					}
					var want []byte
					for i := range pieces {
						p := pattern(pieces+i, 700, false)
						mw.Write(p)
						want = append(want, p...)
					}
					if err := mw.Close(); err != nil {
						t.Fatal(err)
					}
					typ, got, err := c.r.Read(ctx)
					if err != nil || typ != MessageBinary || !bytes.Equal(got, want) {
						t.Fatalf("Read = %v, %d bytes, %v; want %d bytes", typ, len(got), err, len(want))
					}
				}
				// An empty message.
				mw, err := c.w.Writer(ctx, MessageText)
				if err != nil {
					t.Fatal(err)
				}
				if err := mw.Close(); err != nil {
					t.Fatal(err)
				}
				if typ, got, err := c.r.Read(ctx); err != nil || typ != MessageText || len(got) != 0 {
					t.Fatalf("Read = %v, %q, %v; want an empty text message", typ, got, err)
				}
			}
		})
	}
}

// TestConnReaderDiscard reads part of a message through Reader; the next
// read discards the rest and gets the next message.
func TestConnReaderDiscard(t *testing.T) {
	t.Parallel()
	for _, mode := range compressionModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ao, do := pairOpts(mode.off, ConnOptions{})
			srv, cli := loopbackPair(t, ao, do)
			ctx := connTestCtx(t)
			long := pattern(1, 200000, true)
			go func() {
				cli.Write(ctx, MessageText, long)
				cli.Write(ctx, MessageBinary, []byte("second"))
				cli.Write(ctx, MessageText, long)
				cli.Write(ctx, MessageText, []byte("fourth"))
				cli.Write(ctx, MessageText, []byte("fifth"))
			}()

			typ, r, err := srv.Reader(ctx)
			if err != nil || typ != MessageText {
				t.Fatalf("Reader = %v, %v", typ, err)
			}
			head := make([]byte, 10)
			if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, long[:10]) {
				t.Fatalf("first 10 bytes %q, %v", head, err)
			}
			typ, p, err := srv.Read(ctx)
			if err != nil || typ != MessageBinary || string(p) != "second" {
				t.Fatalf("Read = %v, %q, %v; want binary \"second\"", typ, p, err)
			}

			// Through Reader again: read some, then discard by Reader.
			_, r, err = srv.Reader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(r, head); err != nil {
				t.Fatal(err)
			}
			typ, r, err = srv.Reader(ctx)
			if err != nil || typ != MessageText {
				t.Fatalf("Reader = %v, %v", typ, err)
			}
			all, err := io.ReadAll(r)
			if err != nil || string(all) != "fourth" {
				t.Fatalf("ReadAll = %q, %v; want \"fourth\"", all, err)
			}
			if n, err := r.Read(head); n != 0 || err != io.EOF {
				t.Errorf("Read after the end = %d, %v; want io.EOF", n, err)
			}
			if _, p, err := srv.Read(ctx); err != nil || string(p) != "fifth" {
				t.Fatalf("Read = %q, %v; want \"fifth\"", p, err)
			}
		})
	}
}

func TestConnReadAppend(t *testing.T) {
	t.Parallel()
	for _, mode := range compressionModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ao, do := pairOpts(mode.off, ConnOptions{})
			srv, cli := loopbackPair(t, ao, do)
			ctx := connTestCtx(t)
			for _, n := range []int{0, 5, 1000, 70000} {
				msg := pattern(n, n, false)
				if err := cli.Write(ctx, MessageBinary, msg); err != nil {
					t.Fatal(err)
				}
				dst := make([]byte, 6, 6+n+10)
				copy(dst, "prefix")
				typ, got, err := srv.ReadAppend(ctx, dst)
				if err != nil || typ != MessageBinary {
					t.Fatalf("ReadAppend = %v, %v", typ, err)
				}
				if string(got[:6]) != "prefix" || !bytes.Equal(got[6:], msg) {
					t.Fatalf("ReadAppend returned %d bytes, want \"prefix\" and the %d-byte message", len(got), n)
				}
				if &got[0] != &dst[0] {
					t.Errorf("ReadAppend reallocated a buffer of enough capacity")
				}
				// Into a nil slice, and into a short one.
				cli.Write(ctx, MessageText, []byte("abc"))
				if _, got, err := srv.ReadAppend(ctx, nil); err != nil || string(got) != "abc" {
					t.Fatalf("ReadAppend(nil) = %q, %v", got, err)
				}
				cli.Write(ctx, MessageBinary, msg)
				short := []byte("xy")
				if _, got, err := srv.ReadAppend(ctx, short[:2:2]); err != nil || string(got[:2]) != "xy" || !bytes.Equal(got[2:], msg) {
					t.Fatalf("ReadAppend(short) = %d bytes, %v", len(got), err)
				}
			}
		})
	}
}

// TestConnMaxMessageSize sends a message one byte over the reader's limit:
// the reader fails with 1009 and the writer's side reads the close frame.
func TestConnMaxMessageSize(t *testing.T) {
	t.Parallel()
	const limit = 1000
	for _, mode := range compressionModes {
		for _, how := range []string{"Write", "Writer", "server limit"} {
			t.Run(mode.name+"/"+how, func(t *testing.T) {
				t.Parallel()
				co := ConnOptions{WriteBufferSize: 256}
				co.Compression.Enabled = !mode.off
				limited := co
				limited.MaxMessageSize = limit
				var srv, cli *Conn
				if how == "server limit" {
					// The client is the one with the limit.
					srv, cli = loopbackPair(t, &AcceptOptions{ConnOptions: co}, &DialOptions{ConnOptions: limited})
				} else {
					srv, cli = loopbackPair(t, &AcceptOptions{ConnOptions: limited}, &DialOptions{ConnOptions: co})
				}
				writer, reader := cli, srv
				if how == "server limit" {
					writer, reader = srv, cli
				}
				ctx := connTestCtx(t)
				send := func(p []byte) error {
					if how != "Writer" {
						return writer.Write(ctx, MessageText, p)
					}
					mw, err := writer.Writer(ctx, MessageText)
					if err != nil {
						return err
					}
					for len(p) > 0 {
						k := min(len(p), 100)
						mw.Write(p[:k])
						p = p[k:]
					}
					return mw.Close()
				}

				// At the limit: fine.
				atLimit := pattern(1, limit, true)
				if err := send(atLimit); err != nil {
					t.Fatal(err)
				}
				if _, p, err := reader.Read(ctx); err != nil || !bytes.Equal(p, atLimit) {
					t.Fatalf("Read at the limit = %d bytes, %v", len(p), err)
				}

				// Over it.
				writerErr := make(chan error, 1)
				go func() {
					send(pattern(2, limit+1, true))
					_, _, err := writer.Read(ctx)
					writerErr <- err
				}()
				_, _, err := reader.Read(ctx)
				var perr ProtocolError
				if !errors.As(err, &perr) || perr.Code != StatusMessageTooBig {
					t.Fatalf("Read over the limit: %v, want a ProtocolError with code 1009", err)
				}
				if !errors.Is(err, ErrMessageTooBig) {
					t.Errorf("errors.Is(%v, ErrMessageTooBig) = false", err)
				}
				if CloseStatus(err) != 0 {
					t.Errorf("CloseStatus(%v) = %v: the peer did not close", err, CloseStatus(err))
				}
				werr := <-writerErr
				var ce CloseError
				if !errors.As(werr, &ce) || ce.Code != StatusMessageTooBig {
					t.Errorf("the writer read %v, want a CloseError 1009", werr)
				}
				if !strings.Contains(ce.Reason, fmt.Sprint(limit)) {
					t.Errorf("close reason %q does not give the limit", ce.Reason)
				}
				// The reader's error stays.
				if _, _, err := reader.Read(ctx); !errors.Is(err, ErrMessageTooBig) {
					t.Errorf("next Read: %v, want ErrMessageTooBig again", err)
				}
				waitDone(t, reader, connTestTimeout)
			})
		}
	}
}

// TestConnNoSizeLimit declares a huge frame to a reader without a size
// limit: the read must fail when the data does not come, not panic or try
// to allocate the declared length.
func TestConnNoSizeLimit(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, &AcceptOptions{ConnOptions: ConnOptions{MaxMessageSize: -1}})
	var hdr [14]byte
	hdr[0] = 0x82
	hdr[1] = 0x80 | 127
	binary.BigEndian.PutUint64(hdr[2:], 1<<62)
	// The masking key is zero: the payload goes as it is.
	w.nc.Write(append(hdr[:], "only a few bytes"...))
	w.nc.Close()
	_, _, err := c.Read(connTestCtx(t))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestConnConcurrency writes messages from many goroutines at once, whole
// (Write) and in pieces (Writer), while others ping and close: nothing
// panics, every message whose write succeeded arrives intact, and no message
// is mixed with another.
func TestConnConcurrency(t *testing.T) {
	t.Parallel()
	const (
		writers   = 8
		perWriter = 30
		pingers   = 3
		closers   = 3
	)
	for _, mode := range compressionModes {
		for _, closeMidway := range []bool{false, true} {
			name := mode.name + "/all written"
			if closeMidway {
				name = mode.name + "/close midway"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				ao, do := pairOpts(mode.off, ConnOptions{WriteBufferSize: 256})
				srv, cli := loopbackPair(t, ao, do)
				ctx := connTestCtx(t)

				// body makes a message that says who sent it: 4 bytes of
				// id, then bytes that depend on the id.
				body := func(id int) []byte {
					b := binary.BigEndian.AppendUint32(nil, uint32(id))
					return append(b, pattern(id, 50+id%7*300, false)...)
				}

				// The server reads everything until the close.
				type received struct {
					msgs map[int]bool
					bad  []string
					err  error
				}
				gotSome := make(chan struct{})
				srvDone := make(chan received, 1)
				go func() {
					r := received{msgs: map[int]bool{}}
					signalled := false
					for {
						_, p, err := srv.Read(ctx)
						if err != nil {
							r.err = err
							srvDone <- r
							return
						}
						if len(p) < 4 {
							r.bad = append(r.bad, fmt.Sprintf("message of %d bytes", len(p)))
							continue
						}
						id := int(binary.BigEndian.Uint32(p))
						if !bytes.Equal(p, body(id)) {
							r.bad = append(r.bad, fmt.Sprintf("message %d: %d bytes, not as sent", id, len(p)))
						}
						if r.msgs[id] {
							r.bad = append(r.bad, fmt.Sprintf("message %d twice", id))
						}
						r.msgs[id] = true
						if len(r.msgs) == writers*perWriter/4 && !signalled {
							signalled = true
							close(gotSome)
						}
					}
				}()
				// The client reads too, for the pongs and the close.
				cliDone := make(chan error, 1)
				go func() {
					_, _, err := cli.Read(ctx)
					cliDone <- err
				}()

				start := make(chan struct{})
				var wg sync.WaitGroup
				var mu sync.Mutex
				written := map[int]bool{}
				for g := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for i := range perWriter {
							id := g*1000 + i
							p := body(id)
							var err error
							if i%2 == 0 {
								err = cli.Write(ctx, MessageBinary, p)
							} else {
								var mw io.WriteCloser
								mw, err = cli.Writer(ctx, MessageBinary)
								if err == nil {
									for len(p) > 0 {
										k := min(len(p), 97)
										mw.Write(p[:k])
										p = p[k:]
									}
									err = mw.Close()
								}
							}
							if err == nil {
								mu.Lock()
								written[id] = true
								mu.Unlock()
							} else if !closeMidway {
								t.Errorf("writing message %d: %v", id, err)
							} else if !errors.Is(err, net.ErrClosed) && CloseStatus(err) != StatusNormalClosure {
								// A writer that waited while the close
								// handshake ended gets the close frame.
								t.Errorf("writing message %d after Close: %v, want net.ErrClosed", id, err)
							}
						}
					}()
				}
				stopPings := make(chan struct{})
				var pingWG sync.WaitGroup
				for range pingers {
					pingWG.Add(1)
					go func() {
						defer pingWG.Done()
						<-start
						for {
							select {
							case <-stopPings:
								return
							default:
							}
							err := cli.Ping(ctx)
							if err != nil {
								if !closeMidway {
									t.Errorf("Ping: %v", err)
								}
								return
							}
						}
					}()
				}
				closeErrs := make(chan error, closers)
				if closeMidway {
					for range closers {
						go func() {
							<-start
							<-gotSome
							closeErrs <- cli.Close(StatusNormalClosure, "midway")
						}()
					}
				}
				close(start)
				wg.Wait()
				close(stopPings)
				pingWG.Wait()
				if !closeMidway {
					if err := cli.Close(StatusNormalClosure, "done"); err != nil {
						t.Errorf("Close: %v", err)
					}
				} else {
					nils := 0
					for range closers {
						if err := <-closeErrs; err == nil {
							nils++
						} else if !errors.Is(err, net.ErrClosed) {
							t.Errorf("concurrent Close: %v, want nil or net.ErrClosed", err)
						}
					}
					if nils != 1 {
						t.Errorf("%d of %d concurrent Closes succeeded, want 1", nils, closers)
					}
				}
				r := <-srvDone
				if ce := CloseStatus(r.err); ce != StatusNormalClosure {
					t.Errorf("server read ended with %v, want a close 1000", r.err)
				}
				if err := <-cliDone; CloseStatus(err) != StatusNormalClosure {
					t.Errorf("client read ended with %v, want the close 1000 echoed", err)
				}
				for _, b := range r.bad {
					t.Error(b)
				}
				for id := range written {
					if !r.msgs[id] {
						t.Errorf("message %d was written but did not arrive", id)
					}
				}
				if !closeMidway && len(r.msgs) != writers*perWriter {
					t.Errorf("%d messages arrived, want %d", len(r.msgs), writers*perWriter)
				}
				t.Logf("%d messages written, %d arrived", len(written), len(r.msgs))
			})
		}
	}
}

// TestConnReadCtx ends a blocked Read with its ctx: it returns the ctx's
// error promptly and closes the connection (the stream may have been cut
// inside a frame).
func TestConnReadCtx(t *testing.T) {
	t.Parallel()
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		w, c := wireClient(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		res := make(chan error, 1)
		go func() {
			_, _, err := c.Read(ctx)
			res <- err
		}()
		// The pong shows the Read is under way.
		w.writeFrame(true, 0x9, []byte("are you reading"))
		if f := w.readFrameT(t); f.op != 0xA {
			t.Fatalf("got %v, want a pong", f)
		}
		cancel()
		select {
		case err := <-res:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Read = %v, want context.Canceled", err)
			}
		case <-time.After(connTestTimeout):
			t.Fatal("Read did not return after its ctx was cancelled")
		}
		waitDone(t, c, connTestTimeout)
		w.expectEOF(t)
		if err := c.Write(connTestCtx(t), MessageText, []byte("x")); err == nil {
			t.Error("Write after the read was interrupted succeeded")
		}
		if _, _, err := c.Read(connTestCtx(t)); !errors.Is(err, context.Canceled) {
			t.Errorf("next Read = %v, want the ctx's error again", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		srv, cli := loopbackPair(t, nil, nil)
		const d = 100 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		start := time.Now()
		_, _, err := srv.Read(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Read = %v, want context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el > d+3*time.Second {
			t.Errorf("Read returned after %v with a ctx of %v", el, d)
		}
		// The peer sees the connection end without a close frame (unless
		// the deadline passed before the Read began, which closes nothing:
		// the subtest "cancel" covers the closing for certain).
		if !isOpen(srv) {
			if _, _, err := cli.Read(connTestCtx(t)); CloseStatus(err) != StatusAbnormalClosure {
				t.Errorf("peer Read = %v, want an abnormal closure (1006)", err)
			}
		}
	})
	t.Run("already done", func(t *testing.T) {
		t.Parallel()
		srv, cli := loopbackPair(t, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := srv.Read(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Read = %v, want context.Canceled", err)
		}
		if err := cli.Write(ctx, MessageText, []byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Write = %v, want context.Canceled", err)
		}
		// Nothing was cut short: the connection goes on.
		echoed := echoUntilEnd(srv)
		echoOnce(t, cli, MessageText, []byte("still open"))
		cli.CloseNow()
		<-echoed
	})
}

// TestConnWriteCtx blocks a Write on a peer that does not read: the ctx
// ends it, and the connection, whose frame was cut short.
func TestConnWriteCtx(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			ao, do := pairOpts(true, ConnOptions{})
			srv, cli := loopbackPair(t, ao, do)
			c := cli
			if side == "server" {
				c = srv
			}
			// Far more than the loopback's buffers hold.
			big := make([]byte, 32<<20)
			const d = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			start := time.Now()
			err := c.Write(ctx, MessageBinary, big)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Write = %v, want context.DeadlineExceeded", err)
			}
			if el := time.Since(start); el > d+3*time.Second {
				t.Errorf("Write returned after %v with a ctx of %v", el, d)
			}
			waitDone(t, c, connTestTimeout)
			if err := c.Write(connTestCtx(t), MessageBinary, []byte("x")); err == nil {
				t.Error("Write after the cut succeeded")
			}
		})
	}
}

// TestConnWriteQueuedCtx: a Write waiting behind another writer's message
// gives up when its ctx ends, and the connection stays open.
func TestConnWriteQueuedCtx(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	ctx := connTestCtx(t)
	mw, err := cli.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := cli.Write(short, MessageText, []byte("queued")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued Write = %v, want context.DeadlineExceeded", err)
	}
	if !isOpen(cli) {
		t.Fatal("the connection was closed")
	}
	io.WriteString(mw, "first")
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, p, err := srv.Read(ctx); err != nil || string(p) != "first" {
		t.Fatalf("Read = %q, %v", p, err)
	}
}

func TestConnWriteAfterClose(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"Close", "CloseNow", "peer Close"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			srv, cli := loopbackPair(t, nil, nil)
			ctx := connTestCtx(t)
			switch how {
			case "Close":
				echoed := echoUntilEnd(srv)
				if err := cli.Close(StatusNormalClosure, ""); err != nil {
					t.Fatal(err)
				}
				<-echoed
			case "CloseNow":
				cli.CloseNow()
			case "peer Close":
				go srv.Close(StatusGoingAway, "")
				if _, _, err := cli.Read(ctx); CloseStatus(err) != StatusGoingAway {
					t.Fatalf("Read = %v, want a close 1001", err)
				}
			}
			if err := cli.Write(ctx, MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write = %v, want net.ErrClosed", err)
			}
			if mw, err := cli.Writer(ctx, MessageText); err == nil {
				mw.Write([]byte("late"))
				if err := mw.Close(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("Writer's Close = %v, want net.ErrClosed", err)
				}
			} else if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Writer = %v, want net.ErrClosed", err)
			}
			if err := cli.Ping(ctx); err == nil {
				t.Error("Ping succeeded on a closed connection")
			}
		})
	}
}

// TestConnReadAfterPeerClose: once the peer's close frame was read, every
// read reports it again.
func TestConnReadAfterPeerClose(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	ctx := connTestCtx(t)
	closed := make(chan error, 1)
	go func() { closed <- srv.Close(4001, "reason") }()
	want := CloseError{Code: 4001, Reason: "reason"}
	for i := range 3 {
		_, _, err := cli.Read(ctx)
		var ce CloseError
		if !errors.As(err, &ce) || ce != want {
			t.Errorf("Read %d = %v, want %v", i, err, want)
		}
	}
	if _, _, err := cli.ReadAppend(ctx, nil); CloseStatus(err) != 4001 {
		t.Errorf("ReadAppend = %v, want the close frame again", err)
	}
	if _, _, err := cli.Reader(ctx); CloseStatus(err) != 4001 {
		t.Errorf("Reader = %v, want the close frame again", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("server Close: %v", err)
	}
}

// TestMessageTypeString checks the names of the message types.
func TestMessageTypeString(t *testing.T) {
	t.Parallel()
	if MessageText.String() != "MessageText" || MessageBinary.String() != "MessageBinary" || !strings.Contains(MessageType(7).String(), "7") {
		t.Errorf("MessageType strings: %v %v %v", MessageText, MessageBinary, MessageType(7))
	}
}
