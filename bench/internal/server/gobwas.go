package server

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// serveGobwas follows gobwas's lower-level example without wsutil: a raw
// net.Listener, the zero-copy ws.Upgrade, then ReadHeader, Cipher and
// WriteHeader. Two liberties, both for speed: reads go through a 4 KiB
// bufio.Reader rather than straight to the socket (one syscall per batch of
// frames, not three per frame), and the reply is written with a single
// Write from a buffer the connection keeps, the header placed in front of
// the payload. With permessage-deflate, it uses the wsflate Reader and
// Writer (pooled, at flate.BestSpeed as the other libraries use) rather
// than the README's DecompressFrame helpers, which allocate a flate state
// per message. Broadcasts send one precompiled frame to every subscriber.
func serveGobwas(ln net.Listener, opts Options) error {
	var subs hub[*gobwasConn]
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			c := &gobwasConn{conn: nc}
			var ext wsflate.Extension
			pub := false
			u := ws.Upgrader{
				OnRequest: func(uri []byte) error {
					pub = string(uri) == PublisherPath
					return nil
				},
			}
			if opts.Compress {
				ext.Parameters = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
				u.Negotiate = ext.Negotiate
			}
			if _, err := u.Upgrade(nc); err != nil {
				return
			}
			_, c.deflate = ext.Accepted()
			switch {
			case opts.Mode == Echo:
				c.echo()
			case pub:
				c.publish(&subs)
			default:
				subs.add(c)
				defer subs.remove(c)
				c.subscribe()
			}
		}()
	}
}

type gobwasConn struct {
	conn    net.Conn
	deflate bool

	mu  sync.Mutex // serializes writes in broadcast mode
	br  *bufio.Reader
	buf []byte // maxHeader bytes of room for the reply's header, then the payload
	hw  headerWriter
	z   *gobwasFlate // buffers for compressed messages, made on the first one
}

// gobwasFlate holds a connection's buffers for compressed messages; the
// flate state itself is pooled.
type gobwasFlate struct {
	src   bytes.Reader
	plain bytes.Buffer
	out   bytes.Buffer
}

const maxHeader = ws.MaxHeaderSize - 4 // a server's header has no mask key

var (
	room      [maxHeader]byte
	errTooBig = errors.New("message too big")
)

// readFrame reads the next frame and unmasks its payload into c.buf.
func (c *gobwasConn) readFrame() (ws.Header, []byte, error) {
	if c.br == nil {
		c.br = bufio.NewReaderSize(c.conn, 4096)
	}
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return h, nil, err
	}
	if h.Length > MaxMessageSize {
		return h, nil, errTooBig
	}
	n := maxHeader + int(h.Length)
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	p := c.buf[maxHeader:]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
		h.Masked = false
	}
	return h, p, nil
}

func (c *gobwasConn) echo() {
	for {
		h, _, err := c.readFrame()
		if err != nil {
			return
		}
		frame := c.buf
		if h.OpCode == ws.OpPing {
			h.OpCode = ws.OpPong
		}
		if h.Rsv1() && c.deflate {
			if frame, err = c.recompress(); err != nil {
				return
			}
			h.Length = int64(len(frame) - maxHeader)
		}
		if err := c.writeFrame(h, frame); err != nil || h.OpCode == ws.OpClose {
			return
		}
	}
}

// writeFrame writes h into the room at the start of frame, before the
// payload, and sends both with one Write.
func (c *gobwasConn) writeFrame(h ws.Header, frame []byte) error {
	c.hw.n = 0
	if err := ws.WriteHeader(&c.hw, h); err != nil {
		return err
	}
	start := maxHeader - c.hw.n
	copy(frame[start:], c.hw.b[:c.hw.n])
	_, err := c.conn.Write(frame[start:])
	return err
}

// recompress inflates the compressed message in c.buf and deflates it
// again, as an echo server that looks at its messages must, into a frame
// buffer with room for the header.
func (c *gobwasConn) recompress() ([]byte, error) {
	if c.z == nil {
		c.z = new(gobwasFlate)
	}
	z := c.z
	z.src.Reset(c.buf[maxHeader:])
	z.plain.Reset()
	fr := readers.Get().(*wsflate.Reader)
	fr.Reset(&z.src)
	_, err := z.plain.ReadFrom(fr)
	readers.Put(fr)
	if err != nil {
		return nil, err
	}
	z.out.Reset()
	z.out.Write(room[:])
	fw := writers.Get().(*wsflate.Writer)
	defer writers.Put(fw)
	fw.Reset(&z.out)
	if _, err := fw.Write(z.plain.Bytes()); err != nil {
		return nil, err
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	return z.out.Bytes(), nil
}

func (c *gobwasConn) publish(subs *hub[*gobwasConn]) {
	for {
		h, p, err := c.readFrame()
		if err != nil {
			return
		}
		if h.OpCode.IsControl() {
			continue
		}
		if h.Rsv1() && c.deflate {
			fr := readers.Get().(*wsflate.Reader)
			fr.Reset(bytes.NewReader(p))
			p, err = io.ReadAll(fr)
			readers.Put(fr)
			if err != nil {
				return
			}
		}
		plain, err := ws.CompileFrame(ws.NewFrame(h.OpCode, true, p))
		if err != nil {
			return
		}
		compressed := plain
		if c.deflate {
			if f, err := wsflate.CompressFrame(ws.NewFrame(h.OpCode, true, p)); err == nil {
				compressed, _ = ws.CompileFrame(f)
			}
		}
		fanout(subs.snapshot(), func(s *gobwasConn) {
			frame := plain
			if s.deflate {
				frame = compressed
			}
			s.mu.Lock()
			s.conn.Write(frame)
			s.mu.Unlock()
		})
	}
}

func (c *gobwasConn) subscribe() {
	for {
		h, _, err := c.readFrame()
		if err != nil {
			return
		}
		if h.OpCode == ws.OpClose {
			c.mu.Lock()
			c.writeFrame(h, c.buf)
			c.mu.Unlock()
			return
		}
	}
}

// headerWriter is the io.Writer ws.WriteHeader writes a header into.
type headerWriter struct {
	b [ws.MaxHeaderSize]byte
	n int
}

func (w *headerWriter) Write(p []byte) (int, error) {
	w.n += copy(w.b[w.n:], p)
	return len(p), nil
}

// flateReader gives flate's reader the Reset wsflate.Reader reuses it by.
type flateReader struct{ io.ReadCloser }

func (r flateReader) Reset(src io.Reader) { r.ReadCloser.(flate.Resetter).Reset(src, nil) }

var (
	readers = sync.Pool{New: func() any {
		return wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor {
			return flateReader{flate.NewReader(r)}
		})
	}}
	writers = sync.Pool{New: func() any {
		return wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
			f, _ := flate.NewWriter(w, flate.BestSpeed)
			return f
		})
	}}
)
