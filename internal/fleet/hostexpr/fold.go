package hostexpr

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Fold writes hosts compactly, the inverse of Parse for summaries:
// 127.0.0.1-5 and 127.0.0.7 become 127.0.0.[1-5,7], web01..web03 become
// web[01-03], and hosts that differ in several numbers fold in each
// (127.0.[0-3].[1-254]). Hosts with different users or ports fold
// separately; IPv6 addresses and local are listed as they are. Terms come
// in the order of their first host. Parse(Fold(hosts)) names the same set
// as hosts (duplicates in hosts are dropped).
func Fold(hosts []Host) string {
	type key struct {
		user string
		port int
	}
	type group struct {
		names []string
		index []int
	}
	var order []key
	groups := map[key]*group{}
	var out []folded
	seen := map[Host]bool{}
	for i, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		if strings.IndexByte(h.Name, ':') >= 0 || h.IsLocal() {
			out = append(out, folded{i, h.String()}) // IPv6 (its own brackets) or local
			continue
		}
		k := key{h.User, h.Port}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			order = append(order, k)
		}
		g.names = append(g.names, h.Name)
		g.index = append(g.index, i)
	}
	for _, k := range order {
		for _, f := range foldNames(groups[k].names, groups[k].index) {
			f.text = Host{User: k.user, Name: f.text, Port: k.port}.String()
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b folded) int { return cmp.Compare(a.first, b.first) })
	texts := make([]string, len(out))
	for i, f := range out {
		texts[i] = f.text
	}
	return strings.Join(texts, ",")
}

// FoldNames folds host names (no user, port or IPv6), as Fold does.
func FoldNames(names []string) string {
	var texts []string
	for _, f := range foldNames(names, nil) {
		texts = append(texts, f.text)
	}
	return strings.Join(texts, ",")
}

// folded is a term of Fold's result and the index of its first host.
type folded struct {
	first int
	text  string
}

// folding is a set of names being folded: texts between numeric fields,
// and a set of numbers as written for each field.
type folding struct {
	parts []string   // len(nums)+1 texts
	nums  [][]string // each field's numbers, as written
	first int        // index of its first name, for order
}

// foldNames folds names; index[i] (or i, when index is nil) is the
// position of names[i] in the caller's list.
func foldNames(names []string, index []int) []folded {
	var items []*folding
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		first := i
		if index != nil {
			first = index[i]
		}
		items = append(items, tokenize(n, first))
	}
	dims := 0
	for _, it := range items {
		dims = max(dims, len(it.nums))
	}
	// Fold the last number first: 127.0.0.[1-254] before 127.0.[0-3].[1-254].
	for d := dims - 1; d >= 0; d-- {
		var next []*folding
		bySig := map[string]*folding{}
		for _, it := range items {
			if d >= len(it.nums) {
				next = append(next, it)
				continue
			}
			sig := it.signature(d)
			if m, ok := bySig[sig]; ok {
				m.nums[d] = append(m.nums[d], it.nums[d]...)
				continue
			}
			bySig[sig] = it
			next = append(next, it)
		}
		items = next
	}
	slices.SortStableFunc(items, func(a, b *folding) int { return cmp.Compare(a.first, b.first) })
	out := make([]folded, len(items))
	for i, it := range items {
		out[i] = folded{it.first, it.render(-1)}
	}
	return out
}

// tokenize splits a name into texts and numbers (runs of up to maxDigits
// digits; longer runs stay text).
func tokenize(name string, index int) *folding {
	f := &folding{first: index}
	text := 0 // start of the current text
	for i := 0; i < len(name); {
		if !isDigit(name[i]) {
			i++
			continue
		}
		j := i
		for j < len(name) && isDigit(name[j]) {
			j++
		}
		if j-i <= maxDigits {
			f.parts = append(f.parts, name[text:i])
			f.nums = append(f.nums, []string{name[i:j]})
			text = j
		}
		i = j
	}
	f.parts = append(f.parts, name[text:])
	return f
}

// signature identifies f apart from its field d: the shapes that may merge.
func (f *folding) signature(d int) string {
	return strconv.Itoa(len(f.nums)) + "\x00" + f.render(d)
}

// render writes f, with field skip (if any) as a placeholder.
func (f *folding) render(skip int) string {
	var b strings.Builder
	for i, p := range f.parts {
		b.WriteString(p)
		if i == len(f.nums) {
			break
		}
		if i == skip {
			b.WriteByte(0)
			continue
		}
		b.WriteString(renderSet(f.nums[i]))
	}
	return b.String()
}

// renderSet writes a set of numbers as written: "7", or "[1-5,7]" with
// runs of consecutive numbers of the same padding as ranges.
func renderSet(set []string) string {
	set = slices.Clone(set)
	slices.SortFunc(set, func(a, b string) int {
		va, _ := parseUint(a, maxDigits)
		vb, _ := parseUint(b, maxDigits)
		return cmp.Or(cmp.Compare(va, vb), cmp.Compare(a, b))
	})
	set = slices.Compact(set)
	if len(set) == 1 {
		return set[0]
	}
	used := make(map[string]bool, len(set))
	for _, s := range set {
		used[s] = false
	}
	var b strings.Builder
	b.WriteByte('[')
	for _, s := range set {
		if used[s] {
			continue
		}
		// s starts a run: take s+1, s+2, ... written with s's padding.
		used[s] = true
		r := numRange{width: padWidth(s)}
		r.lo, _ = parseUint(s, maxDigits)
		last := s
		for v := r.lo + 1; ; v++ {
			next := r.format(v)
			if taken, ok := used[next]; !ok || taken {
				break
			}
			used[next] = true
			last = next
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(s)
		if last != s {
			b.WriteByte('-')
			b.WriteString(last)
		}
	}
	b.WriteByte(']')
	return b.String()
}
