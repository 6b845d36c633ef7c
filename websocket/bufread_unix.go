//go:build unix

package websocket

import (
	"io"
	"net"
	"os"
	"syscall"
)

// sysReader reads a TCP or Unix socket through syscall.RawConn: the read
// system call first, and only if the socket has nothing, the buffer given
// back and the goroutine parked on the poller until it has, as
// net.Conn.Read does but for the buffer.
type sysReader struct {
	rc syscall.RawConn
	nc net.Conn
	cr *connReader

	// The current read, for f (made once: a closure per read would cost
	// an allocation).
	p   []byte // nil: into cr's buffer
	n   int
	err error
	f   func(fd uintptr) bool
}

func newRawReader(nc net.Conn, cr *connReader) rawReader {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	r := &sysReader{rc: rc, nc: nc, cr: cr}
	r.f = r.try
	return r
}

// try makes one read attempt; false means the socket had nothing, and
// RawConn.Read waits until it has and calls try again.
func (r *sysReader) try(fd uintptr) bool {
	p := r.p
	if p == nil {
		r.cr.acquire()
		p = r.cr.buf[r.cr.w:]
		if len(p) == 0 {
			panic("websocket: read into a full buffer")
		}
	}
	for {
		r.n, r.err = syscall.Read(int(fd), p)
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		// The wait may be long: let go of what buffer can be let go.
		// A read into the reader's buffer (p nil) finds it again on
		// the next try, wherever park put its bytes.
		if r.p == nil {
			r.cr.park()
		} else {
			r.cr.release()
		}
		return false
	}
	return true
}

func (r *sysReader) readInto(p []byte) (int, error) {
	r.p, r.n, r.err = p, 0, nil
	err := r.rc.Read(r.f)
	r.p = nil
	switch {
	case err != nil: // a deadline, or the connection closed: a *net.OpError
		return 0, err
	case r.err != nil:
		return 0, &net.OpError{Op: "read", Net: r.nc.LocalAddr().Network(), Source: r.nc.LocalAddr(),
			Addr: r.nc.RemoteAddr(), Err: os.NewSyscallError("read", r.err)}
	case r.n <= 0:
		return 0, io.EOF
	}
	return r.n, nil
}
