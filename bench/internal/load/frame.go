// Package load is the load generator shared by every server: it speaks
// just enough WebSocket over raw TCP sockets to drive a server hard while
// spending as little CPU as it can. Frames are built once, masked, before
// a run and written as they are; replies are parsed only as far as their
// headers, and their payloads skipped.
package load

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// Opcodes and header bits used here.
const (
	finBit   = 0x80
	rsv1Bit  = 0x40
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
	maskBit  = 0x80
)

// maskKey is the key of every frame the generator sends. RFC 6455 wants a
// fresh unpredictable key per frame to protect intermediaries from cache
// poisoning; on loopback, against servers we wrote, one fixed key lets
// every frame be built ahead of time.
var maskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// Payload returns n bytes of JSON-like text, the same for every run: it
// compresses about as well as typical application messages do (3 to 5
// times), so the compressed rows mean something.
func Payload(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":%d,"user":"%s%d","score":%d,"tags":["%s","%s"]},`,
			r.IntN(1e6), words[r.IntN(len(words))], r.IntN(1000), r.IntN(1e5),
			words[r.IntN(len(words))], words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

// Deflate compresses a whole message for permessage-deflate without
// context takeover: a raw DEFLATE stream ended by a sync flush whose
// trailing 00 00 ff ff is removed (RFC 7692 section 7.2.1).
func Deflate(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// Frame returns a masked client frame holding payload as one binary
// message; compressed sets RSV1, for a payload from Deflate.
func Frame(payload []byte, compressed bool) []byte {
	return frame(opBinary, payload, compressed)
}

func frame(op byte, payload []byte, compressed bool) []byte {
	b0 := finBit | op
	if compressed {
		b0 |= rsv1Bit
	}
	f := []byte{b0, 0}
	switch n := len(payload); {
	case n < 126:
		f[1] = maskBit | byte(n)
	case n <= 0xffff:
		f[1] = maskBit | 126
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f[1] = maskBit | 127
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, maskKey[:]...)
	start := len(f)
	f = append(f, payload...)
	for i := range payload {
		f[start+i] ^= maskKey[i&3]
	}
	return f
}

// closeFrame is a masked close frame with status 1000.
var closeFrame = frame(opClose, []byte{0x03, 0xe8}, false)

// errClosed reports a close frame from the server.
var errClosed = errors.New("server sent a close frame")

// readMessage reads frames from br until the end of a data message, and
// returns its payload length (compressed length, if it was compressed) and
// whether it was compressed. Control frames are skipped; a close frame ends
// the read with errClosed. With dst non-nil the payload is appended to it;
// otherwise it is discarded unread.
func readMessage(br *bufio.Reader, dst *[]byte) (n int, compressed bool, err error) {
	first := true
	for {
		b0, err := br.ReadByte()
		if err != nil {
			return n, compressed, err
		}
		b1, err := br.ReadByte()
		if err != nil {
			return n, compressed, err
		}
		if b1&maskBit != 0 {
			return n, compressed, errors.New("server sent a masked frame")
		}
		size := uint64(b1 & 0x7f)
		if size >= 126 {
			ext := 2
			if size == 127 {
				ext = 8
			}
			size = 0
			for range ext {
				b, err := br.ReadByte()
				if err != nil {
					return n, compressed, err
				}
				size = size<<8 | uint64(b)
			}
		}
		op := b0 & 0x0f
		if op >= opClose {
			if _, err := br.Discard(int(size)); err != nil {
				return n, compressed, err
			}
			if op == opClose {
				return n, compressed, errClosed
			}
			continue
		}
		if first {
			compressed = b0&rsv1Bit != 0
			first = false
		}
		if dst != nil {
			start := len(*dst)
			*dst = append(*dst, make([]byte, size)...)
			if _, err := io.ReadFull(br, (*dst)[start:]); err != nil {
				return n, compressed, err
			}
		} else if _, err := br.Discard(int(size)); err != nil {
			return n, compressed, err
		}
		n += int(size)
		if b0&finBit != 0 {
			return n, compressed, nil
		}
	}
}

// Inflate decompresses a message compressed without context takeover.
func Inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // the stream ends at the sync flush, without a final block
	}
	return out, err
}
