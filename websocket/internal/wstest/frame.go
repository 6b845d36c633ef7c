package wstest

import "encoding/binary"

// The frame encoder is written from RFC 6455 section 5.2 without the
// websocket package's own, so that tests of the package's encoder and
// parser compare against an independent reading of the RFC, and so that
// tests can build frames the package would never send.

// Header returns a frame header whose first byte is b0 (FIN, RSV bits and
// opcode, as sent) declaring a payload of length bytes, with the masking
// key if key is not nil. The length is encoded in the fewest bytes, as a
// sender must, except that a 64-bit length is written as given, top bit
// and all.
func Header(b0 byte, length uint64, key []byte) []byte {
	h := []byte{b0, 0}
	switch {
	case length <= 125:
		h[1] = byte(length)
	case length <= 0xffff:
		h[1] = 126
		h = binary.BigEndian.AppendUint16(h, uint16(length))
	default:
		h[1] = 127
		h = binary.BigEndian.AppendUint64(h, length)
	}
	if key != nil {
		h[1] |= 0x80
		h = append(h, key...)
	}
	return h
}

// Frame returns a whole frame with first byte b0 and payload, masked with
// key if key is not nil.
func Frame(b0 byte, payload []byte, key []byte) []byte {
	f := Header(b0, uint64(len(payload)), key)
	start := len(f)
	f = append(f, payload...)
	if key != nil {
		for i := range payload {
			f[start+i] ^= key[i%4]
		}
	}
	return f
}
