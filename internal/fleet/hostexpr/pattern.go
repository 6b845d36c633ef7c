package hostexpr

import (
	"strconv"
	"strings"
)

// maxDigits bounds the numbers in brackets, so they fit in a uint32.
const maxDigits = 9

// A pattern is a host name with bracket groups: web[01-20,25].example.com.
type pattern struct {
	segs []segment
}

// segment is a literal (group == nil) or a bracket group.
type segment struct {
	lit   string
	group []numRange
}

// numRange is lo..hi printed with at least width digits (0: no padding).
type numRange struct {
	lo, hi uint32
	width  int
}

func (r numRange) format(n uint32) string {
	s := strconv.FormatUint(uint64(n), 10)
	if len(s) < r.width {
		s = strings.Repeat("0", r.width-len(s)) + s
	}
	return s
}

// parsePattern parses s, which starts at src[off:] and has balanced,
// unnested brackets.
func parsePattern(src, s string, off int) (*pattern, error) {
	p := &pattern{}
	for i := 0; i < len(s); {
		if s[i] != '[' {
			j := strings.IndexByte(s[i:], '[')
			if j < 0 {
				j = len(s) - i
			}
			lit := lower(s[i : i+j])
			for k := 0; k < len(lit); k++ {
				if !isNameByte(lit[k]) {
					return nil, errAt(src, off+i+k, 1, "unexpected character in host name")
				}
			}
			p.segs = append(p.segs, segment{lit: lit})
			i += j
			continue
		}
		j := i + strings.IndexByte(s[i:], ']')
		g, err := parseGroup(src, s[i+1:j], off+i+1)
		if err != nil {
			return nil, err
		}
		p.segs = append(p.segs, segment{group: g})
		i = j + 1
	}
	return p, nil
}

// parseGroup parses the inside of a bracket group, "01-20,25", which
// starts at src[off:].
func parseGroup(src, s string, off int) ([]numRange, error) {
	if s == "" {
		return nil, errAt(src, off-1, 2, "empty brackets")
	}
	var g []numRange
	for pos := 0; pos <= len(s); {
		end := strings.IndexByte(s[pos:], ',')
		if end < 0 {
			end = len(s) - pos
		}
		item := s[pos : pos+end]
		at := off + pos
		if item == "" {
			return nil, errAt(src, at, 1, "empty item in brackets")
		}
		loText, hiText, isRange := strings.Cut(item, "-")
		lo, ok := parseUint(loText, maxDigits)
		if !ok {
			return nil, errAt(src, at, len(loText), "bad number in brackets (want up to %d digits)", maxDigits)
		}
		r := numRange{lo: lo, hi: lo, width: padWidth(loText)}
		if isRange {
			hiAt := at + len(loText) + 1
			hi, ok := parseUint(hiText, maxDigits)
			if !ok {
				return nil, errAt(src, hiAt, max(1, len(hiText)), "bad number in brackets (want up to %d digits)", maxDigits)
			}
			if w := padWidth(hiText); w != 0 && w != r.width {
				return nil, errAt(src, at, len(item), "range ends differ in zero padding")
			}
			if hi < lo {
				return nil, errAt(src, at, len(item), "range ends before it starts")
			}
			r.hi = hi
		}
		g = append(g, r)
		pos += end + 1
	}
	return g, nil
}

// padWidth returns the zero-padded width of a number as written: its
// length if it has a leading zero (and more than one digit), else 0.
func padWidth(s string) int {
	if len(s) > 1 && s[0] == '0' {
		return len(s)
	}
	return 0
}

func (p *pattern) count() uint64 {
	n := uint64(1)
	for _, s := range p.segs {
		if s.group == nil {
			continue
		}
		var g uint64
		for _, r := range s.group {
			g = satAdd(g, uint64(r.hi-r.lo)+1)
		}
		n = satMul(n, g)
	}
	return n
}

// expand calls fn with each name, the last group varying fastest.
func (p *pattern) expand(fn func(string) error) error {
	var b []byte
	var walk func(i int) error
	walk = func(i int) error {
		if i == len(p.segs) {
			return fn(string(b))
		}
		s := p.segs[i]
		if s.group == nil {
			n := len(b)
			b = append(b, s.lit...)
			err := walk(i + 1)
			b = b[:n]
			return err
		}
		for _, r := range s.group {
			for v := r.lo; ; v++ {
				n := len(b)
				b = append(b, r.format(v)...)
				err := walk(i + 1)
				b = b[:n]
				if err != nil {
					return err
				}
				if v == r.hi {
					break
				}
			}
		}
		return nil
	}
	return walk(0)
}

// match reports whether name is one of the names p expands to.
func (p *pattern) match(name string) bool {
	var walk func(i int, rest string) bool
	walk = func(i int, rest string) bool {
		if i == len(p.segs) {
			return rest == ""
		}
		s := p.segs[i]
		if s.group == nil {
			r, ok := strings.CutPrefix(rest, s.lit)
			return ok && walk(i+1, r)
		}
		return matchGroup(s.group, rest, func(r string) bool { return walk(i+1, r) })
	}
	return walk(0, name)
}
