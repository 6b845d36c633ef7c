package hostexpr

import (
	"fmt"
	"math"
)

// DefaultMaxHosts is the cap on the hosts of one expression when
// Options.MaxHosts is 0.
const DefaultMaxHosts = 4096

// Options adjusts Parse. The zero value means the defaults.
type Options struct {
	// MaxHosts caps the hosts an expression may name: the sum of the sizes
	// of its terms, before duplicates are removed, must not exceed it. It is
	// checked before any term is expanded. 0 means DefaultMaxHosts; a
	// negative value means no cap.
	MaxHosts int
	// Exclude is an expression whose terms all remove hosts, as if each
	// were written with a leading '!' (wsdeck exec -x).
	Exclude string
}

// Parse expands expr into its hosts: duplicates removed, first appearance
// kept, exclusions applied. A malformed expression, or one beyond the cap,
// gets a *SyntaxError; one that leaves no host, ErrNoHosts.
func Parse(expr string, opts *Options) ([]Host, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	max := o.MaxHosts
	if max == 0 {
		max = DefaultMaxHosts
	}
	terms, err := splitTerms(expr, false)
	if err != nil {
		return nil, err
	}
	if o.Exclude != "" {
		ex, err := splitTerms(o.Exclude, true)
		if err != nil {
			return nil, err
		}
		terms = append(terms, ex...)
	}

	// Count first: nothing is expanded unless the whole is within the cap.
	var total uint64
	var biggest *term
	for _, t := range terms {
		if t.neg {
			continue
		}
		n := t.count()
		total = satAdd(total, n)
		if biggest == nil || n > biggest.count() {
			biggest = t
		}
	}
	if total == 0 {
		return nil, ErrNoHosts
	}
	if max > 0 && total > uint64(max) {
		size := fmt.Sprint(total)
		if total == math.MaxUint64 {
			size = "more than 2^64"
		}
		e := errAt(biggest.src, biggest.off, biggest.end-biggest.off,
			"names %s hosts, more than the limit of %d", size, max)
		e.Err = ErrTooManyHosts
		return nil, e
	}

	var excl exclusions
	for _, t := range terms {
		if t.neg {
			excl.add(t)
		}
	}
	hint := min(total, DefaultMaxHosts) // no more than the default, when uncapped
	hosts := make([]Host, 0, hint)
	seen := make(map[Host]struct{}, hint)
	for _, t := range terms {
		if t.neg {
			continue
		}
		err := t.expand(func(h Host) {
			if _, dup := seen[h]; dup || excl.contains(h) {
				return
			}
			seen[h] = struct{}{}
			hosts = append(hosts, h)
		})
		if err != nil {
			return nil, err
		}
	}
	if len(hosts) == 0 {
		return nil, ErrNoHosts
	}
	return hosts, nil
}

// Count returns how many hosts expr names before duplicates and
// exclusions are removed, without expanding it: what the cap is checked
// against. It saturates at math.MaxUint64.
func Count(expr string) (uint64, error) {
	terms, err := splitTerms(expr, false)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, t := range terms {
		if !t.neg {
			total = satAdd(total, t.count())
		}
	}
	return total, nil
}

// splitTerms splits expr at commas and white space outside brackets and
// parses each term. allNeg makes every term an exclusion.
func splitTerms(expr string, allNeg bool) ([]*term, error) {
	var terms []*term
	depth, open := 0, 0
	start := 0
	flush := func(end int) error {
		if start < end {
			t, err := parseTerm(expr, start, end, allNeg)
			if err != nil {
				return err
			}
			terms = append(terms, t)
		}
		return nil
	}
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; c {
		case '[':
			if depth > 0 {
				return nil, errAt(expr, i, 1, "'[' inside brackets")
			}
			depth, open = 1, i
		case ']':
			if depth == 0 {
				return nil, errAt(expr, i, 1, "']' without '['")
			}
			depth = 0
		case ',', ' ', '\t', '\n', '\r':
			if depth > 0 && c != ',' {
				return nil, errAt(expr, i, 1, "white space inside brackets")
			}
			if depth == 0 {
				if err := flush(i); err != nil {
					return nil, err
				}
				start = i + 1
			}
		}
	}
	if depth > 0 {
		return nil, errAt(expr, open, len(expr)-open, "'[' without ']'")
	}
	if err := flush(len(expr)); err != nil {
		return nil, err
	}
	return terms, nil
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

// exclusions holds the '!' terms: single names in a map, the rest matched
// one by one.
type exclusions struct {
	names map[string][]*term
	other []*term
}

func (x *exclusions) add(t *term) {
	if t.kind == kindName || t.kind == kindLocal {
		if x.names == nil {
			x.names = make(map[string][]*term)
		}
		x.names[t.name] = append(x.names[t.name], t)
		return
	}
	x.other = append(x.other, t)
}

func (x *exclusions) contains(h Host) bool {
	for _, t := range x.names[h.Name] {
		if t.contains(h) {
			return true
		}
	}
	for _, t := range x.other {
		if t.contains(h) {
			return true
		}
	}
	return false
}

// lower returns s with ASCII letters in lower case and every other byte
// as it is, so offsets into s stay valid (host names are ASCII).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
