package server

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gobwas/ws"
)

func init() { libraries["floor-epoll"] = serveFloorEpoll }

// epConn is a connection of the epoll floor. A connection holds no memory
// of its own but this struct while it has nothing pending: bytes are read
// into its loop's buffer, and only a partial frame (or a reply the socket
// would not take) is copied into the connection.
type epConn struct {
	fd   int
	loop *epLoop
	pub  bool
	in   []byte // a partial frame, carried to the next read

	mu     sync.Mutex // guards out, closed and writes to fd
	out    []byte     // what the socket did not take yet; EPOLLOUT is on while non-empty
	closed bool
}

type epLoop struct {
	ep   int
	buf  []byte // every read of the loop's connections lands here first
	mode Mode
	subs *hub[*epConn]
	free [][]byte // buffers of partial frames, for reuse
}

// get returns an empty buffer of at least n bytes' capacity.
func (l *epLoop) get(n int) []byte {
	for i, b := range l.free {
		if cap(b) >= n {
			l.free[i] = l.free[len(l.free)-1]
			l.free = l.free[:len(l.free)-1]
			return b[:0]
		}
	}
	return make([]byte, 0, max(n, 64<<10))
}

func (l *epLoop) put(b []byte) {
	if cap(b) > 0 && len(l.free) < 64 {
		l.free = append(l.free, b[:0])
	}
}

// epConns maps file descriptors to connections, for the loops' events.
type epConns struct {
	mu sync.RWMutex
	m  map[int32]*epConn
}

func (t *epConns) get(fd int32) *epConn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[fd]
}

func (t *epConns) set(fd int32, c *epConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c == nil {
		delete(t.m, fd)
	} else {
		t.m[fd] = c
	}
}

func serveFloorEpoll(ln net.Listener, opts Options) error {
	conns := &epConns{m: map[int32]*epConn{}}
	subs := new(hub[*epConn])
	loops := make([]*epLoop, runtime.GOMAXPROCS(0))
	for i := range loops {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		l := &epLoop{ep: ep, buf: make([]byte, 64<<10), mode: opts.Mode, subs: subs}
		loops[i] = l
		go l.run(conns)
	}
	var next atomic.Uint32
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			fd, pub, err := epHandshake(nc)
			if err != nil {
				return
			}
			l := loops[int(next.Add(1))%len(loops)]
			c := &epConn{fd: fd, loop: l, pub: pub}
			conns.set(int32(fd), c)
			if opts.Mode == Broadcast && !pub {
				subs.add(c)
			}
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
			if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
				c.close(conns)
			}
		}()
	}
}

// epHandshake upgrades nc with Go's netpoller, then takes its socket out
// of Go's hands: a non-blocking descriptor of our own.
func epHandshake(nc net.Conn) (fd int, pub bool, err error) {
	defer nc.Close()
	if pub, err = floorUpgrade(nc); err != nil {
		return 0, false, err
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return 0, false, err
	}
	if derr != nil {
		return 0, false, derr
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return 0, false, err
	}
	return fd, pub, nil
}

func (l *epLoop) run(conns *epConns) {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(l.ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			panic(fmt.Sprintf("floor-epoll: epoll_wait: %v", err))
		}
		for _, ev := range events[:n] {
			c := conns.get(ev.Fd)
			if c == nil || c.loop != l {
				continue // closed, and its number taken by another loop's connection
			}
			if ev.Events&syscall.EPOLLOUT != 0 {
				if !c.flush() {
					c.close(conns)
					continue
				}
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				if !l.read(c) {
					c.close(conns)
				}
			}
		}
	}
}

// read reads once (level-triggered: what is left comes as another event)
// and answers every whole frame; false means the connection is done.
func (l *epLoop) read(c *epConn) bool {
	buf := l.buf
	w := 0
	if len(c.in) > 0 {
		// A partial frame: read its rest after it, in its own buffer.
		hl, n, _, _ := floorFrame(c.in)
		need := max(hl+n, len(c.in)+len(l.buf))
		if cap(c.in) < need {
			in := append(l.get(need), c.in...)
			l.put(c.in)
			c.in = in
		}
		buf, w = c.in[:cap(c.in)], len(c.in)
	}
	m, err := syscall.Read(c.fd, buf[w:])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return true
	}
	if err != nil || m == 0 {
		return false
	}
	data := buf[:w+m]
	for {
		hl, n, complete, err := floorFrame(data)
		if err != nil {
			return false
		}
		if !complete {
			break
		}
		reply, op := floorReply(data, hl, n)
		data = data[hl+n:]
		switch {
		case op == byte(ws.OpClose):
			c.write(reply)
			return false
		case l.mode == Echo:
			if !c.write(reply) {
				return false
			}
		case c.pub && op < 8:
			for _, s := range l.subs.snapshot() {
				s.write(reply)
			}
		}
	}
	switch {
	case len(data) == 0:
		l.put(c.in)
		c.in = nil
	case w > 0:
		// Already in c.in's array: move it to the front if frames
		// before it were answered, and read on after it next time.
		if k := len(buf[:w+m]) - len(data); k > 0 {
			data = buf[:copy(buf, data)]
		}
		c.in = data
	default:
		hl, n, _, _ := floorFrame(data)
		c.in = append(l.get(hl+n), data...)
	}
	return true
}

// write sends frame, keeping what the socket does not take for EPOLLOUT;
// false means the connection failed.
func (c *epConn) write(frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if len(c.out) > 0 {
		c.out = append(c.out, frame...)
		return true
	}
	for len(frame) > 0 {
		m, err := syscall.Write(c.fd, frame)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			c.out = append(c.out, frame...)
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLOUT, Fd: int32(c.fd)}
			return syscall.EpollCtl(c.loop.ep, syscall.EPOLL_CTL_MOD, c.fd, &ev) == nil
		}
		if err != nil {
			return false
		}
		frame = frame[m:]
	}
	return true
}

// flush writes what is pending; false means the connection failed.
func (c *epConn) flush() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) > 0 && !c.closed {
		m, err := syscall.Write(c.fd, c.out)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return true
		}
		if err != nil {
			return false
		}
		c.out = c.out[m:]
	}
	c.out = c.out[:0] // its array kept for the next reply the socket will not take
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)}
	return syscall.EpollCtl(c.loop.ep, syscall.EPOLL_CTL_MOD, c.fd, &ev) == nil
}

// close closes the connection once; writers that hold a reference see
// closed and stop before the descriptor can be reused.
func (c *epConn) close(conns *epConns) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.out = nil
	c.loop.subs.remove(c)
	conns.set(int32(c.fd), nil)
	syscall.Close(c.fd) // also leaves the epoll set
	c.mu.Unlock()
}
