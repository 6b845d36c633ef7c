package deflate

import (
	"errors"
	"fmt"
)

// inflate is a small test-only DEFLATE decoder (after Mark Adler's puff)
// that also reports what the stream is made of: the largest match
// distance and how many blocks of each type. It decodes a stream that
// stops after any block, as permessage-deflate's do, and decodes
// successive Flushes of one stream as one.
type inflated struct {
	out     []byte
	maxDist int
	blocks  [3]int // stored, fixed, dynamic
	final   bool
}

type bitReader struct {
	in   []byte
	pos  int // next byte
	bits uint32
	n    uint
}

var errEOF = errors.New("inflate: unexpected end of input")

func (r *bitReader) need(n uint) (uint32, error) {
	for r.n < n {
		if r.pos >= len(r.in) {
			return 0, errEOF
		}
		r.bits |= uint32(r.in[r.pos]) << r.n
		r.pos++
		r.n += 8
	}
	v := r.bits & (1<<n - 1)
	r.bits >>= n
	r.n -= n
	return v, nil
}

// exhausted reports whether only padding bits remain.
func (r *bitReader) exhausted() bool {
	return r.pos == len(r.in) && r.n < 8
}

type huffDecoder struct {
	count  [16]int
	symbol []int
}

func newHuffDecoder(lens []uint8) (*huffDecoder, error) {
	h := &huffDecoder{symbol: make([]int, len(lens))}
	for _, l := range lens {
		h.count[l]++
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - h.count[l]
		if left < 0 {
			return nil, errors.New("inflate: over-subscribed code")
		}
	}
	if left > 0 && len(lens)-h.count[0] > 1 {
		return nil, fmt.Errorf("inflate: incomplete code (%d left)", left)
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lens {
		if l != 0 {
			h.symbol[offs[l]] = sym
			offs[l]++
		}
	}
	return h, nil
}

func (h *huffDecoder) decode(r *bitReader) (int, error) {
	// Load up to 15 bits (fewer at the end of input), then walk the code
	// lengths one bit at a time (puff's canonical decoding).
	for r.n < 15 && r.pos < len(r.in) {
		r.bits |= uint32(r.in[r.pos]) << r.n
		r.pos++
		r.n += 8
	}
	bits := r.bits
	code, first, index := 0, 0, 0
	for l := uint(1); l < 16; l++ {
		if l > r.n {
			return 0, errEOF
		}
		code |= int(bits & 1)
		bits >>= 1
		count := h.count[l]
		if code-count < first {
			r.bits >>= l
			r.n -= l
			return h.symbol[index+code-first], nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, errors.New("inflate: bad code")
}

func inflate(in []byte) (*inflated, error) {
	return inflateWith(nil, in)
}

// inflateWith decodes in with the bytes of dict as earlier output.
func inflateWith(dict, in []byte) (*inflated, error) {
	res := &inflated{out: append([]byte(nil), dict...)}
	r := &bitReader{in: in}
	for !res.final && !r.exhausted() {
		hdr, err := r.need(3)
		if err != nil {
			return res, err
		}
		res.final = hdr&1 == 1
		switch hdr >> 1 {
		case 0:
			res.blocks[0]++
			// To a byte boundary, giving back whole bytes read ahead.
			r.pos -= int(r.n / 8)
			r.bits, r.n = 0, 0
			if r.pos+4 > len(in) {
				return res, errEOF
			}
			n := int(in[r.pos]) | int(in[r.pos+1])<<8
			nn := int(in[r.pos+2]) | int(in[r.pos+3])<<8
			if n != ^nn&0xffff {
				return res, errors.New("inflate: stored length mismatch")
			}
			r.pos += 4
			if r.pos+n > len(in) {
				return res, errEOF
			}
			res.out = append(res.out, in[r.pos:r.pos+n]...)
			r.pos += n
		case 1:
			res.blocks[1]++
			lit, err := newHuffDecoder(fixedLitLensAll())
			if err != nil {
				return res, err
			}
			dist, err := newHuffDecoder(fixedDistLens())
			if err != nil {
				return res, err
			}
			if err := res.codes(r, lit, dist); err != nil {
				return res, err
			}
		case 2:
			res.blocks[2]++
			lit, dist, err := readDynamic(r)
			if err != nil {
				return res, err
			}
			if err := res.codes(r, lit, dist); err != nil {
				return res, err
			}
		default:
			return res, errors.New("inflate: bad block type")
		}
	}
	res.out = res.out[len(dict):]
	return res, nil
}

func fixedLitLensAll() []uint8 {
	lens := make([]uint8, 288)
	copy(lens, fixedLitLens[:])
	lens[286], lens[287] = 8, 8
	return lens
}

// fixedDistLens is the fixed distance code, which has 32 codes of which
// 30 and 31 never occur.
func fixedDistLens() []uint8 {
	lens := make([]uint8, 32)
	for i := range lens {
		lens[i] = 5
	}
	return lens
}

func readDynamic(r *bitReader) (*huffDecoder, *huffDecoder, error) {
	v, err := r.need(14)
	if err != nil {
		return nil, nil, err
	}
	nlen, ndist, ncode := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nlen > 286 || ndist > 30 {
		return nil, nil, errors.New("inflate: bad counts")
	}
	var cl [19]uint8
	for _, sym := range clOrder[:ncode] {
		l, err := r.need(3)
		if err != nil {
			return nil, nil, err
		}
		cl[sym] = uint8(l)
	}
	clDec, err := newHuffDecoder(cl[:])
	if err != nil {
		return nil, nil, fmt.Errorf("code-length code: %w", err)
	}
	lens := make([]uint8, nlen+ndist)
	for i := 0; i < len(lens); {
		sym, err := clDec.decode(r)
		if err != nil {
			return nil, nil, err
		}
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var v uint8
		var rep uint32
		switch sym {
		case 16:
			if i == 0 {
				return nil, nil, errors.New("inflate: repeat with no length")
			}
			v = lens[i-1]
			rep, err = r.need(2)
			rep += 3
		case 17:
			rep, err = r.need(3)
			rep += 3
		default:
			rep, err = r.need(7)
			rep += 11
		}
		if err != nil {
			return nil, nil, err
		}
		if i+int(rep) > len(lens) {
			return nil, nil, errors.New("inflate: too many lengths")
		}
		for range rep {
			lens[i] = v
			i++
		}
	}
	if lens[256] == 0 {
		return nil, nil, errors.New("inflate: no end-of-block code")
	}
	lit, err := newHuffDecoder(lens[:nlen])
	if err != nil {
		return nil, nil, fmt.Errorf("literal/length code: %w", err)
	}
	dist, err := newHuffDecoder(lens[nlen:])
	if err != nil {
		return nil, nil, fmt.Errorf("distance code: %w", err)
	}
	return lit, dist, nil
}

func (res *inflated) codes(r *bitReader, lit, dist *huffDecoder) error {
	for {
		sym, err := lit.decode(r)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			res.out = append(res.out, byte(sym))
			continue
		case sym == 256:
			return nil
		case sym > 285:
			return errors.New("inflate: bad length symbol")
		}
		c := sym - firstLength
		e, err := r.need(uint(lengthExtra[c]))
		if err != nil {
			return err
		}
		length := int(lengthBase[c]) + 3 + int(e)
		dsym, err := dist.decode(r)
		if err != nil {
			return err
		}
		if dsym >= 30 {
			return errors.New("inflate: bad distance symbol")
		}
		e, err = r.need(uint(distExtra[dsym]))
		if err != nil {
			return err
		}
		d := int(distBase[dsym]) + 1 + int(e)
		if d > len(res.out) {
			return fmt.Errorf("inflate: distance %d beyond %d bytes of output", d, len(res.out))
		}
		res.maxDist = max(res.maxDist, d)
		for range length {
			res.out = append(res.out, res.out[len(res.out)-d])
		}
	}
}
