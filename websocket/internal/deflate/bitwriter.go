package deflate

import (
	"encoding/binary"
	"io"
)

// outBufSize is how many output bytes collect before a write to dst.
const outBufSize = 4096

// A bitWriter packs bits LSB first, as DEFLATE wants them, and writes
// whole bytes to w. After a write to w fails, it drops everything and
// keeps the error.
type bitWriter struct {
	w     io.Writer
	err   error
	bits  uint64 // pending bits, the oldest in the low end
	nbits uint   // below 32 between calls
	n     int    // bytes pending in out
	out   [outBufSize + 8]byte
}

func (b *bitWriter) reset(w io.Writer) {
	b.w, b.err, b.bits, b.nbits, b.n = w, nil, 0, 0, 0
}

// writeBits appends the low n bits of v; n is at most 32.
func (b *bitWriter) writeBits(v uint64, n uint) {
	b.bits |= v << b.nbits
	b.nbits += n
	if b.nbits >= 32 {
		binary.LittleEndian.PutUint32(b.out[b.n:], uint32(b.bits))
		b.n += 4
		b.bits >>= 32
		b.nbits -= 32
		if b.n >= outBufSize {
			b.flush()
		}
	}
}

func (b *bitWriter) writeCode(c hcode) {
	b.writeBits(uint64(c.code), uint(c.len))
}

// align pads the pending bits with zeros to a byte boundary and moves
// them to out.
func (b *bitWriter) align() {
	for b.nbits > 0 {
		b.out[b.n] = byte(b.bits)
		b.n++
		b.bits >>= 8
		b.nbits -= min(b.nbits, 8)
	}
	if b.n >= outBufSize {
		b.flush()
	}
}

// writeBytes appends p; the writer must be byte-aligned.
func (b *bitWriter) writeBytes(p []byte) {
	if b.n+len(p) > outBufSize {
		b.flush()
		if len(p) > outBufSize/2 {
			if b.err == nil {
				_, b.err = b.w.Write(p)
			}
			return
		}
	}
	b.n += copy(b.out[b.n:], p)
	if b.n >= outBufSize {
		b.flush()
	}
}

// flush writes the whole bytes in out to w.
func (b *bitWriter) flush() {
	if b.n == 0 {
		return
	}
	if b.err == nil {
		_, b.err = b.w.Write(b.out[:b.n])
	}
	b.n = 0
}
