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
	p     []byte // nil: into cr's buffer
	ahead bool   // into p, then into cr's buffer
	n     int
	err   error
	f     func(fd uintptr) bool
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
//
// The read is made in a function of its own that has returned by the time
// park runs: a goroutine waiting for an idle peer then never went deeper
// than fits in the smallest stack (2 KiB; see connReader.await).
func (r *sysReader) try(fd uintptr) bool {
	switch {
	case r.ahead:
		r.readAhead(fd)
	case r.p == nil && r.cr.spillTo != nil && r.cr.w == 0:
		r.scatter(fd)
	default:
		r.read(fd)
	}
	if r.err == syscall.EAGAIN {
		// The wait may be long: let go of what buffer can be let go.
		// A read into the reader's buffer (p nil) finds it again on
		// the next try, wherever park put its bytes.
		r.cr.park()
		return false
	}
	return true
}

// read reads into r.p, or into the reader's buffer after what it holds.
func (r *sysReader) read(fd uintptr) {
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
			return
		}
	}
}

func (r *sysReader) readInto(p []byte, ahead bool) (int, error) {
	r.p, r.ahead, r.n, r.err = p, ahead, 0, nil
	err := r.rc.Read(r.f)
	r.p, r.ahead = nil, false
	switch {
	case err != nil: // a deadline, or the connection closed: a *net.OpError
		return 0, err
	case r.err != nil:
		return 0, r.opError()
	case r.n <= 0:
		return 0, io.EOF
	}
	return r.n, nil
}

// opError is the error of a failed read system call, as net.Conn.Read
// would return it. Out of line: its frame stays off the stack of every
// read (see try).
//
//go:noinline
func (r *sysReader) opError() error {
	return &net.OpError{Op: "read", Net: r.nc.LocalAddr().Network(), Source: r.nc.LocalAddr(),
		Addr: r.nc.RemoteAddr(), Err: os.NewSyscallError("read", r.err)}
}

// scatter is try's read for an armed reader (see connReader.arm): the
// first spillHdr bytes into the empty buffer, the rest into spillTo.
func (r *sysReader) scatter(fd uintptr) {
	cr := r.cr
	cr.acquire()
	hdr := cr.buf[:cr.spillHdr]
	var n int
	for {
		n, r.err = readv(int(fd), hdr, cr.spillTo)
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err != nil {
		return
	}
	r.n = min(n, len(hdr))
	if n > len(hdr) {
		cr.pending = cr.spillTo[:n-len(hdr)]
	}
	cr.spillTo = nil
}

// readAhead is try's read into r.p and then the reader's empty buffer.
func (r *sysReader) readAhead(fd uintptr) {
	cr := r.cr
	cr.acquire()
	var n int
	for {
		n, r.err = readv(int(fd), r.p, cr.buf[cr.w:])
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err != nil {
		return
	}
	r.n = min(n, len(r.p))
	if n > len(r.p) {
		cr.w += n - len(r.p)
	}
}
