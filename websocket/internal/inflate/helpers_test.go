package inflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// chunkSource gives data in pieces of random sizes from 1 to max (or all
// at once when max is 0), with an occasional empty piece.
type chunkSource struct {
	data []byte
	max  int
	rng  *rand.Rand
	buf  []byte // pieces are copied here, and spoiled on the next call
}

func newChunkSource(data []byte, max int, seed uint64) *chunkSource {
	return &chunkSource{data: data, max: max, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (s *chunkSource) Next() ([]byte, error) {
	if len(s.data) == 0 {
		return nil, io.EOF
	}
	n := len(s.data)
	if s.max > 0 {
		if s.rng.IntN(16) == 0 {
			return nil, nil
		}
		n = min(n, 1+s.rng.IntN(s.max))
	}
	// Spoil the previous piece: the Reader must not keep it.
	for i := range s.buf {
		s.buf[i] = 0xa5
	}
	s.buf = append(s.buf[:0], s.data[:n]...)
	s.data = s.data[n:]
	return s.buf, nil
}

// sliceSource gives a slice in pieces of a fixed size, without copying.
type sliceSource struct {
	data  []byte
	chunk int
}

func (s *sliceSource) Next() ([]byte, error) {
	if len(s.data) == 0 {
		return nil, io.EOF
	}
	n := min(len(s.data), s.chunk)
	b := s.data[:n]
	s.data = s.data[n:]
	return b, nil
}

// readAll reads r to its end with reads of random sizes, up to limit
// bytes.
func readAll(r io.Reader, rng *rand.Rand, limit int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 70000)
	for len(out) < limit {
		n := len(buf)
		if rng != nil {
			switch rng.IntN(4) {
			case 0:
				n = 1 + rng.IntN(16)
			case 1:
				n = 1 + rng.IntN(5000)
			}
		}
		n = min(n, limit-len(out))
		m, err := r.Read(buf[:n])
		out = append(out, buf[:m]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func stdInflate(comp, dict []byte, limit int) ([]byte, error) {
	fr := flate.NewReaderDict(bytes.NewReader(comp), dict)
	return readAll(fr, nil, limit)
}

func ourInflate(comp, dict []byte, chunk int, seed uint64, limit int) ([]byte, error) {
	r := NewReader(newChunkSource(comp, chunk, seed), dict)
	return readAll(r, rand.New(rand.NewPCG(seed, 7)), limit)
}

func compress(data, dict []byte, level int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriterDict(&b, level, dict)
	if err != nil {
		panic(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// Test data.

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

var words = strings.Fields(`the of and to in is that it was for on are as with his they at be
this from have or by one had not but what all were when we there can an your which their
said if do will each about how up out them then she many some so these would other into has
more her two like him see time could no make than first been its who now people my made over`)

func text(rng *rand.Rand, n int) []byte {
	var b []byte
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
		if rng.IntN(12) == 0 {
			b = append(b, ".\n"...)
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}

func jsonText(rng *rand.Rand, n int) []byte {
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, `{"id":%d,"user":"%s_%d","score":%.3f,"tags":["%s","%s"],"active":%t,"text":"%s %s %s"}`+"\n",
			i, words[rng.IntN(len(words))], rng.IntN(1000), rng.Float64()*100,
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(2) == 0,
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))])
	}
	return b[:n]
}

func repetitive(rng *rand.Rand, n int) []byte {
	b := make([]byte, 0, n)
	unit := randBytes(rng, 1+rng.IntN(12))
	for len(b) < n {
		b = append(b, unit...)
		if rng.IntN(50) == 0 {
			b = append(b, byte(rng.Uint32()))
		}
	}
	return b[:n]
}

// longMatches repeats pieces from far back: distances up to 32768 and
// lengths up to 258 and more.
func longMatches(rng *rand.Rand, n int) []byte {
	b := randBytes(rng, min(n, 33000))
	for len(b) < n {
		d := 1 + rng.IntN(min(len(b), 32768))
		l := 3 + rng.IntN(600)
		for range l {
			b = append(b, b[len(b)-d])
		}
		b = append(b, randBytes(rng, rng.IntN(20))...)
	}
	return b[:n]
}
