package websocket

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// Helpers that put frames on the wire, and take them off it, by hand. The
// encoding is wstest's, written from RFC 6455 section 5.2 without the
// package's own encoder and parser, so that tests of those compare against
// an independent reading of the RFC, and so that they can build frames the
// package would never send.

// rawKey is the masking key of the frames the tests build.
var rawKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// rawHeader and rawFrame are wstest.Header and wstest.Frame.
var (
	rawHeader = wstest.Header
	rawFrame  = wstest.Frame
)

// clientFrame returns a frame as a client sends it: masked.
func clientFrame(b0 byte, payload []byte) []byte { return rawFrame(b0, payload, rawKey[:]) }

// serverFrame returns a frame as a server sends it: not masked.
func serverFrame(b0 byte, payload []byte) []byte { return rawFrame(b0, payload, nil) }

// clientFrames concatenates client frames: pairs of b0 and payload.
func clientFrames(frames ...rawFrameSpec) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, clientFrame(f.b0, f.payload)...)
	}
	return out
}

// rawFrameSpec is a frame's first byte and payload.
type rawFrameSpec struct {
	b0      byte
	payload []byte
}

// closePayload returns a close frame payload: code and reason, as bytes,
// unchecked.
func rawClosePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// gotFrame is a frame taken off the wire by readRawFrame.
type gotFrame struct {
	b0      byte
	masked  bool
	payload []byte // unmasked
}

func (f gotFrame) fin() bool  { return f.b0&0x80 != 0 }
func (f gotFrame) op() opcode { return opcode(f.b0 & 0x0f) }
func (f gotFrame) rsv() byte  { return f.b0 & 0x70 }
func (f gotFrame) String() string {
	return fmt.Sprintf("%v fin=%v masked=%v %d bytes", f.op(), f.fin(), f.masked, len(f.payload))
}

// closeCode returns the status code of a close frame's payload, or
// StatusNoStatusRcvd if it has none.
func (f gotFrame) closeCode() StatusCode {
	if len(f.payload) < 2 {
		return StatusNoStatusRcvd
	}
	return StatusCode(binary.BigEndian.Uint16(f.payload))
}

// readRawFrame reads one frame of up to maxPayload bytes from r.
func readRawFrame(r io.Reader, maxPayload int) (gotFrame, error) {
	var f gotFrame
	var b [8]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return f, err
	}
	f.b0 = b[0]
	f.masked = b[1]&0x80 != 0
	n := uint64(b[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return f, noEOF(err)
		}
		n = uint64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return f, noEOF(err)
		}
		n = binary.BigEndian.Uint64(b[:8])
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, noEOF(err)
		}
	}
	if n > uint64(maxPayload) {
		return f, fmt.Errorf("frame of %d bytes, over the test's limit of %d", n, maxPayload)
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, noEOF(err)
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// halfPipe returns the two ends of an in-memory full-duplex connection made
// of two net.Pipes, one for each direction, so that an end can close its
// writing side alone (CloseWrite), as a TCP connection can: the other end
// then reads io.EOF and can still write. Deadlines work as net.Pipe's.
func halfPipe() (a, b *pipeEnd) {
	aRead, bWrite := net.Pipe()
	bRead, aWrite := net.Pipe()
	return &pipeEnd{r: aRead, w: aWrite}, &pipeEnd{r: bRead, w: bWrite}
}

// pipeEnd is one end of a halfPipe.
type pipeEnd struct {
	r net.Conn // reads what the other end writes
	w net.Conn // writes what the other end reads
}

func (p *pipeEnd) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeEnd) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeEnd) CloseWrite() error           { return p.w.Close() }

func (p *pipeEnd) Close() error {
	p.r.Close()
	return p.w.Close()
}

func (p *pipeEnd) LocalAddr() net.Addr                { return p.r.LocalAddr() }
func (p *pipeEnd) RemoteAddr() net.Addr               { return p.r.RemoteAddr() }
func (p *pipeEnd) SetReadDeadline(t time.Time) error  { return p.r.SetReadDeadline(t) }
func (p *pipeEnd) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }

func (p *pipeEnd) SetDeadline(t time.Time) error {
	p.r.SetReadDeadline(t)
	return p.w.SetWriteDeadline(t)
}

// chunkedConn is a net.Conn whose reads go through r, a chunker from
// testing/iotest over the connection itself.
type chunkedConn struct {
	net.Conn
	r io.Reader
}

func (c *chunkedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chunked returns nc with its reads cut by wrap (nil: nc itself). The
// chunker reads from a buffer over nc, so that a read of one byte costs a
// copy rather than a synchronous hand-over through a net.Pipe: what the
// Conn sees is the same, reads cut short.
func chunkedNetConn(nc net.Conn, wrap func(io.Reader) io.Reader) net.Conn {
	if wrap == nil {
		return nc
	}
	return &chunkedConn{Conn: nc, r: wrap(bufio.NewReaderSize(nc, 64<<10))}
}

// newChunkedConn makes a Conn over nc whose reads go through wrap, reading
// through a bufio.Reader over the chunked connection as a server's
// handshake would leave it.
func newChunkedConn(nc net.Conn, wrap func(io.Reader) io.Reader, client bool, opts ConnOptions) *Conn {
	cc := chunkedNetConn(nc, wrap)
	return newConn(cc, bufio.NewReaderSize(cc, defaultReadBufferSize), client, "", opts)
}
