package websocket

import (
	"encoding/binary"
	"strconv"
)

// opcode is a frame's opcode (RFC 6455 section 5.2).
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

func (o opcode) isControl() bool { return o&0x8 != 0 }

func (o opcode) known() bool {
	switch o {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
		return true
	}
	return false
}

func (o opcode) String() string {
	switch o {
	case opContinuation:
		return "continuation"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(o)) + ")"
}

const (
	bitFin  = 0x80
	bitRSV1 = 0x40
	bitRSV2 = 0x20
	bitRSV3 = 0x10
	bitMask = 0x80

	// maxHeaderSize is the longest frame header: 2 bytes, a 64-bit length
	// and a masking key.
	maxHeaderSize = 2 + 8 + 4
	// maxControlPayload is the largest payload of a control frame.
	maxControlPayload = 125
)

// header is a decoded frame header.
type header struct {
	fin    bool
	rsv    byte // the RSV bits, in place (bitRSV1|bitRSV2|bitRSV3)
	op     opcode
	masked bool
	length int64
	key    uint32 // the masking key as a little-endian word, see mask.go
}

// headerLen returns the length of a frame header from its first two bytes.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&bitMask != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes a frame header from b, which holds exactly
// headerLen(b[1]) bytes. It checks only what the encoding itself forbids:
// a 64-bit length with the most significant bit set.
func parseHeader(b []byte) (header, bool) {
	h := header{
		fin:    b[0]&bitFin != 0,
		rsv:    b[0] & (bitRSV1 | bitRSV2 | bitRSV3),
		op:     opcode(b[0] & 0x0f),
		masked: b[1]&bitMask != 0,
	}
	i := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		i = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, false
		}
		h.length = int64(u)
		i = 10
	default:
		h.length = int64(l)
	}
	if h.masked {
		h.key = binary.LittleEndian.Uint32(b[i:])
	}
	return h, true
}

// putHeader encodes h into b and returns the number of bytes written.
func putHeader(b *[maxHeaderSize]byte, h header) int {
	b0 := h.rsv | byte(h.op)
	if h.fin {
		b0 |= bitFin
	}
	b[0] = b0
	var b1 byte
	if h.masked {
		b1 = bitMask
	}
	n := 2
	switch {
	case h.length <= 125:
		b[1] = b1 | byte(h.length)
	case h.length <= 0xffff:
		b[1] = b1 | 126
		binary.BigEndian.PutUint16(b[2:], uint16(h.length))
		n = 4
	default:
		b[1] = b1 | 127
		binary.BigEndian.PutUint64(b[2:], uint64(h.length))
		n = 10
	}
	if h.masked {
		binary.LittleEndian.PutUint32(b[n:], h.key)
		n += 4
	}
	return n
}
