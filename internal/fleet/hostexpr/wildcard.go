package hostexpr

import "strings"

// maxNameLen is the longest host name a NamePattern matches: DNS names
// have at most 253 characters. It also bounds the work of a match.
const maxNameLen = 253

// NamePattern matches host names, for allow-lists such as the console's
// --allow-hosts. It is a host name with wildcards and bracket groups:
//
//	db*                 a star matches any run of characters, none of them a dot
//	web??               a question mark matches one character other than a dot
//	web[01-20,25].lab   a bracket group matches the numbers it names, as in an
//	                    expression, zero padding included (web07, not web7)
//
// As in TLS wildcards, * and ? stay within one label: *.example.com
// matches www.example.com but neither example.com nor a.www.example.com,
// and db* matches db1 but not db.attacker.example. Matching is
// case-insensitive; names longer than 253 bytes never match. A NamePattern
// is immutable and safe for concurrent use.
type NamePattern struct {
	src  string
	segs []nameSeg
}

// nameSeg is a literal, a wildcard or a bracket group.
type nameSeg struct {
	kind  byte // 0 (literal), '*', '?' or '['
	lit   string
	group []numRange
}

// ParseNamePattern parses a name pattern. It returns a *SyntaxError
// marking the bad part of a malformed one.
func ParseNamePattern(s string) (*NamePattern, error) {
	src := s
	s = lower(s)
	if s == "" {
		return nil, errAt(src, 0, 0, "empty host pattern")
	}
	p := &NamePattern{src: src}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '*' || c == '?':
			if c == '*' && len(p.segs) > 0 && p.segs[len(p.segs)-1].kind == '*' {
				i++ // ** is *
				continue
			}
			p.segs = append(p.segs, nameSeg{kind: c})
			i++
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, errAt(src, i, len(s)-i, "unclosed bracket")
			}
			g, err := parseGroup(src, s[i+1:i+j], i+1)
			if err != nil {
				return nil, err
			}
			p.segs = append(p.segs, nameSeg{kind: '[', group: g})
			i += j + 1
		default:
			j := i
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			if j == i {
				return nil, errAt(src, i, 1, "unexpected character in host pattern")
			}
			p.segs = append(p.segs, nameSeg{lit: s[i:j]})
			i = j
		}
	}
	return p, nil
}

// String returns the pattern as written.
func (p *NamePattern) String() string { return p.src }

// Match reports whether name matches the pattern.
func (p *NamePattern) Match(name string) bool {
	if len(name) > maxNameLen {
		return false
	}
	name = lower(name)
	// failed[i*(len(name)+1)+k] records that segments i.. cannot match
	// the last k bytes of name: with it a match takes at most
	// len(segs)*len(name) steps, however many stars the pattern has.
	var failed []bool
	var walk func(i int, rest string) bool
	walk = func(i int, rest string) bool {
		if i == len(p.segs) {
			return rest == ""
		}
		key := i*(len(name)+1) + len(rest)
		if failed != nil && failed[key] {
			return false
		}
		ok := false
		switch s := p.segs[i]; s.kind {
		case 0:
			r, found := strings.CutPrefix(rest, s.lit)
			ok = found && walk(i+1, r)
		case '?':
			ok = rest != "" && rest[0] != '.' && walk(i+1, rest[1:])
		case '*':
			if failed == nil {
				failed = make([]bool, (len(p.segs)+1)*(len(name)+1))
			}
			for n := 0; !ok && n <= len(rest); n++ {
				ok = walk(i+1, rest[n:])
				if n < len(rest) && rest[n] == '.' {
					break
				}
			}
		case '[':
			ok = matchGroup(s.group, rest, func(r string) bool { return walk(i+1, r) })
		}
		if !ok && failed != nil {
			failed[key] = true
		}
		return ok
	}
	return walk(0, name)
}

// matchGroup reports whether rest starts with a number of group g, as
// written with its padding, after which next accepts the remainder.
func matchGroup(g []numRange, rest string, next func(string) bool) bool {
	for n := 1; n <= min(len(rest), maxDigits); n++ {
		digits := rest[:n]
		v, ok := parseUint(digits, maxDigits)
		if !ok {
			return false
		}
		for _, r := range g {
			if r.lo <= v && v <= r.hi && r.format(v) == digits && next(rest[n:]) {
				return true
			}
		}
	}
	return false
}
