package server

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"

	"github.com/gobwas/ws"
)

// The floor servers are references, not libraries: each does the least a
// WebSocket echo must (parse a frame header, unmask, write the frame back)
// and nothing a library must besides (no UTF-8 check, no reassembly of
// fragments, no close handshake, no API). Their figures are the ceiling of
// what any library can reach in this harness on this machine with the same
// I/O model: "floor" with a goroutine per connection and Go's netpoller,
// as every library here uses; "floor-epoll" (Linux) with no goroutine per
// connection, an epoll loop per core, as an event-loop mode would.

// floorFrame parses the client frame at the start of b. It returns the
// header's length (with the mask key) and the payload's; complete is false
// while b holds less than the whole frame.
func floorFrame(b []byte) (hl, n int, complete bool, err error) {
	if len(b) < 2 {
		return 0, 0, false, nil
	}
	if b[1]&0x80 == 0 {
		return 0, 0, false, errors.New("unmasked client frame")
	}
	if b[0]&0x70 != 0 {
		return 0, 0, false, errors.New("reserved bits set")
	}
	switch l := b[1] & 0x7f; l {
	case 126:
		hl = 8
		if len(b) < 4 {
			return 0, 0, false, nil
		}
		n = int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		hl = 14
		if len(b) < 10 {
			return 0, 0, false, nil
		}
		v := binary.BigEndian.Uint64(b[2:])
		if v > MaxMessageSize {
			return 0, 0, false, errTooBig
		}
		n = int(v)
	default:
		hl, n = 6, int(l)
	}
	return hl, n, len(b) >= hl+n, nil
}

// floorReply turns the whole client frame at the start of b (header length
// hl, payload length n) into the server's frame in place: the payload
// unmasked, the header rewritten without a mask key just before it. It
// returns the reply and the frame's opcode.
func floorReply(b []byte, hl, n int) (reply []byte, op byte) {
	op = b[0] & 0x0f
	key := b[hl-4 : hl]
	p := b[hl : hl+n]
	ws.Cipher(p, [4]byte(key), 0)
	if op == byte(ws.OpPing) {
		op = byte(ws.OpPong)
	}
	first := b[0]&0x80 | op
	var h []byte
	switch {
	case n < 126:
		h = b[hl-2 : hl]
		h[1] = byte(n)
	case n < 1<<16:
		h = b[hl-4 : hl]
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = b[hl-10 : hl]
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	h[0] = first
	return b[hl-len(h) : hl+n], op
}

// floorUpgrade does the opening handshake on nc, and reports whether the
// client asked for the publisher's path.
func floorUpgrade(nc net.Conn) (pub bool, err error) {
	u := ws.Upgrader{OnRequest: func(uri []byte) error {
		pub = string(uri) == PublisherPath
		return nil
	}}
	_, err = u.Upgrade(nc)
	return pub, err
}

// floorConn is a connection of the goroutine-per-connection floor.
type floorConn struct {
	nc net.Conn
	mu sync.Mutex // serializes writes in broadcast mode
}

func serveFloor(ln net.Listener, opts Options) error {
	var subs hub[*floorConn]
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			pub, err := floorUpgrade(nc)
			if err != nil {
				return
			}
			c := &floorConn{nc: nc}
			if opts.Mode == Broadcast && !pub {
				subs.add(c)
				defer subs.remove(c)
			}
			c.serve(opts.Mode, pub, &subs)
		}()
	}
}

// serve reads into one buffer (64 KiB, grown for larger frames), and
// answers each whole frame in it with one Write.
func (c *floorConn) serve(mode Mode, pub bool, subs *hub[*floorConn]) {
	buf := make([]byte, 64<<10)
	r, w := 0, 0
	for {
		hl, n, complete, err := floorFrame(buf[r:w])
		if err != nil {
			return
		}
		if !complete {
			if need := hl + n; r > 0 && (w == len(buf) || need > len(buf)-r) {
				w = copy(buf, buf[r:w])
				r = 0
			}
			if need := hl + n; need > len(buf) {
				buf = append(buf[:w], make([]byte, need-w)...)
			}
			m, err := c.nc.Read(buf[w:])
			if err != nil {
				return
			}
			w += m
			continue
		}
		reply, op := floorReply(buf[r:], hl, n)
		r += hl + n
		if r == w {
			r, w = 0, 0
		}
		switch {
		case op == byte(ws.OpClose):
			c.mu.Lock()
			c.nc.Write(reply)
			c.mu.Unlock()
			return
		case mode == Echo:
			if _, err := c.nc.Write(reply); err != nil {
				return
			}
		case pub && op < 8:
			frame := append([]byte(nil), reply...)
			fanout(subs.snapshot(), func(s *floorConn) {
				s.mu.Lock()
				s.nc.Write(frame)
				s.mu.Unlock()
			})
		}
	}
}
