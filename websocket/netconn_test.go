package websocket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestNetConnStream reads messages as one byte stream, with bufio and
// io.Copy, across message boundaries, to io.EOF at a normal close.
func TestNetConnStream(t *testing.T) {
	t.Parallel()
	for _, mode := range compressionModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ao, do := pairOpts(mode.off, ConnOptions{})
			srv, cli := loopbackPair(t, ao, do)
			ctx := connTestCtx(t)
			client := NetConn(ctx, cli, MessageBinary)
			server := NetConn(ctx, srv, MessageBinary)
			var _ net.Conn = client

			// Lines cut across messages.
			sent := make(chan error, 1)
			var stream bytes.Buffer
			go func() {
				for _, p := range []string{"line one\nline ", "two\n", "", "line three\nline four", "\n"} {
					if _, err := io.WriteString(client, p); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			sc := bufio.NewScanner(server)
			var lines []string
			for len(lines) < 4 && sc.Scan() {
				lines = append(lines, sc.Text())
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			want := []string{"line one", "line two", "line three", "line four"}
			if len(lines) != len(want) {
				t.Fatalf("lines %q, want %q (%v)", lines, want, sc.Err())
			}
			for i := range want {
				if lines[i] != want[i] {
					t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
				}
			}

			// Chunks of many sizes, then a close: io.Copy ends at io.EOF.
			go func() {
				for i, n := range []int{1, 100, 5000, 0, 70000, 3, 1 << 20} {
					p := pattern(i, n, false)
					stream.Write(p)
					if _, err := client.Write(p); err != nil {
						sent <- err
						return
					}
				}
				sent <- client.Close()
			}()
			var got bytes.Buffer
			n, err := io.Copy(&got, server)
			if err != nil {
				t.Fatalf("io.Copy = %d, %v", n, err)
			}
			if err := <-sent; err != nil {
				t.Fatalf("writing: %v", err)
			}
			if !bytes.Equal(got.Bytes(), stream.Bytes()) {
				t.Errorf("read %d bytes, want the %d written", got.Len(), stream.Len())
			}
			if n, err := server.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("Read after the close = %d, %v; want io.EOF", n, err)
			}
		})
	}
}

// TestNetConnSmallReads reads with a 3-byte buffer across message
// boundaries.
func TestNetConnSmallReads(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	ctx := connTestCtx(t)
	var want []byte
	for i, n := range []int{1, 2, 3, 4, 10, 0, 7} {
		p := pattern(i, n, true)
		want = append(want, p...)
		if err := cli.Write(ctx, MessageText, p); err != nil {
			t.Fatal(err)
		}
	}
	server := NetConn(ctx, srv, MessageText)
	var got []byte
	buf := make([]byte, 3)
	for len(got) < len(want) {
		n, err := server.Read(buf)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

// TestNetConnDeadline: a read deadline that passes interrupts Read with a
// timeout, between messages and in the middle of a frame, and a later Read
// goes on with the stream intact.
func TestNetConnDeadline(t *testing.T) {
	t.Parallel()
	w, c := wireClient(t, nil)
	nc := NetConn(context.Background(), c, MessageBinary)
	buf := make([]byte, 100)

	timesOut := func(when string) {
		t.Helper()
		nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := nc.Read(buf)
		var ne net.Error
		if n != 0 || !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read %s = %d, %v; want a timeout", when, n, err)
		}
		nc.SetReadDeadline(time.Time{})
	}

	timesOut("with nothing sent")
	msg := pattern(1, 60, false)
	w.writeFrame(true, 0x2, msg)
	if _, err := io.ReadFull(nc, buf[:60]); err != nil || !bytes.Equal(buf[:60], msg) {
		t.Fatalf("Read = %v; message %x, want %x", err, buf[:60], msg)
	}

	// Half a frame, the deadline, then the rest.
	msg = pattern(2, 80, false)
	frame := w.frame(true, 0x2, msg)
	cut := len(frame) - 40
	w.nc.Write(frame[:cut])
	if _, err := io.ReadFull(nc, buf[:40]); err != nil || !bytes.Equal(buf[:40], msg[:40]) {
		t.Fatalf("Read = %v; first half %x, want %x", err, buf[:40], msg[:40])
	}
	timesOut("in the middle of a frame")
	w.nc.Write(frame[cut:])
	if _, err := io.ReadFull(nc, buf[:40]); err != nil || !bytes.Equal(buf[:40], msg[40:]) {
		t.Fatalf("Read = %v; second half %x, want %x", err, buf[:40], msg[40:])
	}

	// Half a header.
	msg = pattern(3, 200, false)
	frame = w.frame(true, 0x2, msg)
	w.nc.Write(frame[:3])
	timesOut("in the middle of a header")
	w.nc.Write(frame[3:])
	got := make([]byte, 200)
	if _, err := io.ReadFull(nc, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Read = %v; message %x, want %x", err, got, msg)
	}
	if !isOpen(c) {
		t.Fatal("a read deadline closed the connection")
	}
}

// TestNetConnClose: a close with 1000 or 1001 reads as io.EOF; another code
// as an error that carries it. Close sends 1000.
func TestNetConnClose(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code StatusCode
		eof  bool
	}{
		{StatusNormalClosure, true},
		{StatusGoingAway, true},
		{StatusInternalError, false},
		{4000, false},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			t.Parallel()
			srv, cli := loopbackPair(t, nil, nil)
			go cli.Close(tc.code, "")
			nc := NetConn(connTestCtx(t), srv, MessageBinary)
			for range 2 {
				_, err := nc.Read(make([]byte, 10))
				if tc.eof && err != io.EOF {
					t.Errorf("Read = %v, want io.EOF", err)
				}
				if !tc.eof && CloseStatus(err) != tc.code {
					t.Errorf("Read = %v, want a CloseError %v", err, tc.code)
				}
			}
		})
	}
	t.Run("Close sends 1000", func(t *testing.T) {
		t.Parallel()
		srv, cli := loopbackPair(t, nil, nil)
		read := make(chan error, 1)
		go func() {
			_, _, err := srv.Read(context.Background())
			read <- err
		}()
		if err := NetConn(connTestCtx(t), cli, MessageBinary).Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		if err := <-read; CloseStatus(err) != StatusNormalClosure {
			t.Errorf("peer Read = %v, want a close 1000", err)
		}
	})
}

// TestNetConnWrongType: a message of the other type fails the read, and
// the connection is closed with 1003.
func TestNetConnWrongType(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	ctx := connTestCtx(t)
	read := make(chan error, 1)
	go func() {
		cli.Write(ctx, MessageText, []byte("text"))
		_, _, err := cli.Read(ctx)
		read <- err
	}()
	nc := NetConn(ctx, srv, MessageBinary)
	if _, err := nc.Read(make([]byte, 10)); err == nil {
		t.Error("Read of a text message through a binary NetConn succeeded")
	}
	if err := <-read; CloseStatus(err) != StatusUnsupportedData {
		t.Errorf("peer Read = %v, want a close 1003", err)
	}
}

func TestNetConnAddrs(t *testing.T) {
	t.Parallel()
	srv, cli := loopbackPair(t, nil, nil)
	nc := NetConn(connTestCtx(t), cli, MessageBinary)
	if nc.LocalAddr().String() != srv.RemoteAddr().String() || nc.RemoteAddr().String() != srv.LocalAddr().String() {
		t.Errorf("NetConn %v -> %v, server %v -> %v", nc.LocalAddr(), nc.RemoteAddr(), srv.LocalAddr(), srv.RemoteAddr())
	}
}
