package hostexpr

import (
	"math"
	"net/netip"
	"strings"
)

type kind uint8

const (
	kindLocal   kind = iota // local
	kindName                // one host name or IP address
	kindRange               // an IPv4 range, lo to hi
	kindPrefix              // a CIDR prefix
	kindPattern             // a name with bracket groups
)

// term is one item of an expression, parsed but not expanded.
type term struct {
	src      string // the expression the term is in, for errors
	off, end int    // the term's bytes in src, after any '!'
	neg      bool   // an exclusion
	user     string
	port     int
	kind     kind
	name     string       // kindLocal, kindName: the canonical name
	lo, hi   netip.Addr   // kindRange: IPv4, lo <= hi
	prefix   netip.Prefix // kindPrefix: masked
	pat      *pattern     // kindPattern
}

// parseTerm parses src[start:end], which holds no separator outside
// brackets and whose brackets are balanced.
func parseTerm(src string, start, end int, neg bool) (*term, error) {
	s, off := src[start:end], start
	if s[0] == '!' {
		neg = true
		s, off = s[1:], off+1
		if s == "" {
			return nil, errAt(src, start, 1, "'!' without a term")
		}
		if s[0] == '!' {
			return nil, errAt(src, off, 1, "'!' twice")
		}
	}
	t := &term{src: src, off: off, end: end, neg: neg}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		if bad, msg := checkUser(s[:i]); msg != "" {
			return nil, errAt(src, off+bad, max(1, i-bad), "%s", msg)
		}
		if j := strings.IndexByte(s[i+1:], '@'); j >= 0 {
			return nil, errAt(src, off+i+1+j, 1, "a second '@'")
		}
		t.user = s[:i]
		s, off = s[i+1:], off+i+1
	}

	host, hoff := s, off
	portText, poff := "", -1
	switch {
	case strings.HasPrefix(s, "[") && strings.Contains(s[:strings.IndexByte(s, ']')], ":"):
		// [IPv6] or [IPv6]:port
		j := strings.IndexByte(s, ']')
		host, hoff = s[1:j], off+1
		if rest := s[j+1:]; rest != "" {
			if rest[0] != ':' {
				return nil, errAt(src, off+j+1, len(rest), "expected :port after ']'")
			}
			portText, poff = rest[1:], off+j+1
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || !validZone(a.Zone()) {
			return nil, errAt(src, hoff, max(1, len(host)), "bad IPv6 address")
		}
		t.kind, t.name = kindName, a.String()
	case strings.Count(s, ":") >= 2:
		// A bare IPv6 address or prefix: no port.
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Addr().Is6() {
				return nil, errAt(src, off, len(s), "bad IPv6 prefix")
			}
			t.kind, t.prefix = kindPrefix, p.Masked()
			break
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || !validZone(a.Zone()) {
			return nil, errAt(src, off, len(s), "bad IPv6 address (write [addr]:port for a port)")
		}
		t.kind, t.name = kindName, a.String()
	default:
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, portText, poff = s[:i], s[i+1:], off+i
		}
	}
	if poff >= 0 {
		p, ok := parsePort(portText)
		if !ok {
			return nil, errAt(src, poff, len(portText)+1, "bad port (want 1-65535)")
		}
		t.port = p
	}
	if t.kind == kindName || t.kind == kindPrefix {
		return t, nil
	}

	switch {
	case host == "":
		return nil, errAt(src, t.off, end-t.off, "missing host name")
	case strings.EqualFold(host, LocalName):
		if t.user != "" || t.port != 0 {
			return nil, errAt(src, t.off, end-t.off, "local takes no user or port")
		}
		t.kind, t.name = kindLocal, LocalName
	case strings.IndexByte(host, '/') >= 0:
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return nil, errAt(src, hoff, len(host), "bad CIDR prefix")
		}
		t.kind, t.prefix = kindPrefix, p.Masked()
	case strings.IndexByte(host, '[') >= 0:
		p, err := parsePattern(src, host, hoff)
		if err != nil {
			return nil, err
		}
		t.kind, t.pat = kindPattern, p
	case isRange(host):
		lo, hi, bad, msg := parseRange(host)
		if msg != "" {
			return nil, errAt(src, hoff+bad, len(host)-bad, "%s", msg)
		}
		t.kind, t.lo, t.hi = kindRange, lo, hi
	default:
		name, bad, msg := checkName(host)
		if msg != "" {
			return nil, errAt(src, hoff+bad, max(1, len(host)-bad), "%s", msg)
		}
		t.kind, t.name = kindName, name
	}
	return t, nil
}

// count returns the number of hosts t names, saturating.
func (t *term) count() uint64 {
	switch t.kind {
	case kindRange:
		return uint64(v4(t.hi)-v4(t.lo)) + 1
	case kindPrefix:
		bits := t.prefix.Addr().BitLen() - t.prefix.Bits()
		if bits >= 64 {
			return math.MaxUint64
		}
		n := uint64(1) << bits
		if t.prefix.Addr().Is4() && bits >= 2 {
			n -= 2 // network and broadcast
		}
		return n
	case kindPattern:
		return t.pat.count()
	}
	return 1
}

// expand calls fn for each host t names, in order.
func (t *term) expand(fn func(Host)) error {
	h := Host{User: t.user, Port: t.port}
	switch t.kind {
	case kindLocal, kindName:
		h.Name = t.name
		fn(h)
	case kindRange:
		for a := t.lo; ; a = a.Next() {
			h.Name = a.String()
			fn(h)
			if a == t.hi {
				break
			}
		}
	case kindPrefix:
		first, last := t.prefixBounds()
		for a := first; a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
			h.Name = a.String()
			fn(h)
		}
	case kindPattern:
		return t.pat.expand(func(name string) error {
			canon, _, msg := checkName(name)
			if msg != "" {
				return errAt(t.src, t.off, t.end-t.off, "expands to %q: %s", name, msg)
			}
			h.Name = canon
			fn(h)
			return nil
		})
	}
	return nil
}

// prefixBounds returns the first and last host of a prefix term.
func (t *term) prefixBounds() (first, last netip.Addr) {
	p := t.prefix
	first = p.Addr()
	bits := first.BitLen() - p.Bits()
	if first.Is4() {
		n := v4(first) | uint32(uint64(1)<<bits-1)
		last = netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		if bits >= 2 {
			first, last = first.Next(), last.Prev()
		}
		return first, last
	}
	b := first.As16()
	for i := 15; i >= 0 && bits > 0; i-- {
		m := min(bits, 8)
		b[i] |= byte(1<<m - 1)
		bits -= m
	}
	return first, netip.AddrFrom16(b)
}

// contains reports whether the exclusion t removes h.
func (t *term) contains(h Host) bool {
	if t.user != "" && t.user != h.User || t.port != 0 && t.port != h.Port {
		return false
	}
	switch t.kind {
	case kindLocal, kindName:
		return h.Name == t.name
	case kindRange:
		a, err := netip.ParseAddr(h.Name)
		return err == nil && a.Is4() && a.Compare(t.lo) >= 0 && a.Compare(t.hi) <= 0
	case kindPrefix: // all of it, network and broadcast addresses too
		a, err := netip.ParseAddr(h.Name)
		return err == nil && t.prefix.Contains(a)
	case kindPattern:
		return t.pat.match(h.Name)
	}
	return false
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// isDottedQuad reports whether s looks like an IPv4 address: digits and
// exactly three dots, starting with a digit.
func isDottedQuad(s string) bool {
	if s == "" || !isDigit(s[0]) {
		return false
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '.':
			dots++
		case !isDigit(s[i]):
			return false
		}
	}
	return dots == 3
}

// isRange reports whether s is meant as an IPv4 range: an address, '-'.
func isRange(s string) bool {
	i := strings.IndexByte(s, '-')
	return i >= 0 && isDottedQuad(s[:i])
}

// parseRange parses A.B.C.D-E or A.B.C.D-A.B.C.D. On error it returns the
// offset of the bad part and what is wrong.
func parseRange(s string) (lo, hi netip.Addr, bad int, msg string) {
	i := strings.IndexByte(s, '-')
	lo, err := netip.ParseAddr(s[:i])
	if err != nil || !lo.Is4() {
		return lo, hi, 0, "bad IPv4 address"
	}
	right := s[i+1:]
	if strings.IndexByte(right, '.') >= 0 {
		hi, err = netip.ParseAddr(right)
		if err != nil || !hi.Is4() {
			return lo, hi, i + 1, "bad IPv4 address at the end of the range"
		}
	} else {
		n, ok := parseUint(right, 3)
		if !ok || n > 255 {
			return lo, hi, i + 1, "bad last octet (want 0-255)"
		}
		b := lo.As4()
		b[3] = byte(n)
		hi = netip.AddrFrom4(b)
	}
	if hi.Less(lo) {
		return lo, hi, 0, "range ends before it starts"
	}
	return lo, hi, 0, ""
}

// checkName validates a host name or IPv4 address and returns it in
// canonical form; on error, the offset of the bad part and what is wrong.
func checkName(s string) (name string, bad int, msg string) {
	s = lower(s)
	if len(s) > 253 {
		return "", 253, "host name longer than 253 bytes"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isNameByte(c) {
			return "", i, "unexpected character in host name"
		}
		if (c == '.' || c == '-') && i == 0 {
			return "", 0, "host name starts with '" + string(c) + "'"
		}
		if c == '.' && i > 0 && s[i-1] == '.' {
			return "", i, "empty label in host name"
		}
	}
	if isRange(s) {
		return "", 0, "an IPv4 range where a single host is expected"
	}
	last := s[strings.LastIndexByte(s, '.')+1:]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return "", 0, "bad IPv4 address"
		}
		return a.String(), 0, ""
	}
	return s, 0, ""
}

// checkUser validates a user name; on error it returns the offset of the
// bad part and what is wrong.
func checkUser(s string) (bad int, msg string) {
	if s == "" {
		return 0, "empty user name before '@'"
	}
	if s[0] == '-' {
		return 0, "user name starts with '-'"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isNameByte(c) && !('A' <= c && c <= 'Z') {
			return i, "unexpected character in user name"
		}
	}
	return 0, ""
}

func parsePort(s string) (int, bool) {
	n, ok := parseUint(s, 5)
	return int(n), ok && n >= 1 && n <= 65535
}

// parseUint parses at most maxDigits decimal digits.
func parseUint(s string, maxDigits int) (uint32, bool) {
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	var n uint32
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + uint32(s[i]-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isNameByte reports whether c may appear in a (lower-cased) host name.
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || isDigit(c) || c == '-' || c == '.' || c == '_'
}

// validZone reports whether zone, an IPv6 address's zone, is empty or an
// interface name or index: letters, digits, '.', '-' and '_'. netip takes
// any text, a comma or a bracket included, which Fold could not write back.
func validZone(zone string) bool {
	for i := 0; i < len(zone); i++ {
		c := zone[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
