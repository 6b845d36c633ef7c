package deflate

// chainParams tune levels 2..9, after zlib's configuration table.
type chainParams struct {
	lazy  bool // look one position ahead before taking a match
	good  int  // search a quarter of the chain once a match this long is in hand
	nice  int  // stop searching at a match this long
	chain int  // most candidates looked at per position
	// maxLazy: look ahead only while the match in hand is shorter.
	maxLazy int
}

// Unlike zlib's fast levels, the greedy ones index every position inside
// a match, however long: in a window of a few hundred bytes, a long match
// that is not indexed leaves nothing within reach for the next one.
var chainLevels = [BestCompression + 1]chainParams{
	2: {nice: 16, chain: 8},
	3: {nice: 32, chain: 32},
	4: {lazy: true, good: 4, maxLazy: 4, nice: 16, chain: 16},
	5: {lazy: true, good: 8, maxLazy: 16, nice: 32, chain: 32},
	6: {lazy: true, good: 8, maxLazy: 16, nice: 128, chain: 128},
	7: {lazy: true, good: 8, maxLazy: 32, nice: 128, chain: 256},
	8: {lazy: true, good: 32, maxLazy: 128, nice: 258, chain: 1024},
	9: {lazy: true, good: 32, maxLazy: 258, nice: 258, chain: 4096},
}

// insert adds buf[s:s+4] to the hash chains and returns the previous
// head of its chain.
func (w *Writer) insert(s int) int32 {
	h := hash4(load32(w.buf, s), w.shift) & uint32(len(w.table)-1)
	abs := w.base + int32(s)
	old := w.table[h]
	w.table[h] = abs
	d := uint16(0)
	if abs-old <= int32(w.wsize) && old >= w.hist {
		d = uint16(abs - old)
	}
	w.prev[int(abs)&(w.wsize-1)] = d
	return old
}

// longestMatch follows the hash chain from cand, a position before s, for
// a match longer than best, and returns it (length 0 if none). Every
// candidate lies within the window: prev links to positions further back
// only, and the search stops below limit.
func (w *Writer) longestMatch(s int, cand int32, best, chain int) (int, int32) {
	buf := w.buf[:w.end]
	abs := w.base + int32(s)
	limit := max(abs-int32(w.wsize), w.hist)
	maxLen := min(maxMatch, len(buf)-s)
	// A fresh table's zeros stand for position 0, which is s itself at
	// the start of the stream.
	if best >= maxLen || cand >= abs {
		return 0, 0
	}
	nice := min(w.params.nice, maxLen)
	cur := buf[s : s+maxLen]
	length, dist := 0, int32(0)
	for cand >= limit && chain > 0 {
		c := int(cand - w.base)
		// The byte that would make the match longer than best decides
		// most candidates without a full comparison.
		if buf[c+best] == cur[best] {
			if l := matchLen(buf[c:], cur); l > best {
				best, length, dist = l, l, abs-cand
				if l >= nice {
					break
				}
			}
		}
		d := w.prev[int(cand)&(w.wsize-1)]
		if d == 0 {
			break
		}
		cand -= int32(d)
		chain--
	}
	return length, dist
}

// Input that has gone skipAfter bytes without a match is likely not to
// match soon (compressed or encrypted data): levels 2..9 then look at
// fewer positions, every second after 32 more literals, every third after
// 64, and so on up to every maxSkip-th, as level 1 does from the start.
// Text and JSON never get there.
const (
	skipAfter = 256
	maxSkip   = 32
)

// skipLiterals is how many positions after s to pass over as literals.
func (w *Writer) skipLiterals(s, stop int) int {
	if w.litRun <= skipAfter {
		return 0
	}
	return min((w.litRun-skipAfter)>>5, maxSkip-1, stop-s)
}

// tokenizeGreedy is levels 2 and 3: take the longest match found at each
// position.
func (w *Writer) tokenizeGreedy(s, stop int) int {
	lastHash := w.end - minMatch
	for s < stop {
		if s > lastHash {
			w.addLiteral(w.buf[s])
			s++
			continue
		}
		l, d := w.longestMatch(s, w.insert(s), minMatch-1, w.params.chain)
		if l < minMatch {
			w.addLiteral(w.buf[s])
			s++
			if k := w.skipLiterals(s, stop); k > 0 {
				w.addLiterals(w.buf[s : s+k])
				s += k
			}
			continue
		}
		w.addMatch(l, d)
		for p := s + 1; p < s+l && p <= lastHash; p++ {
			w.insert(p)
		}
		s += l
	}
	return s
}

// tokenizeLazy is levels 4..9: before taking the match at a position, look
// at the next one, and emit a literal instead if it has a longer match
// (zlib's deflate_slow).
func (w *Writer) tokenizeLazy(s, stop int) int {
	lastHash := w.end - minMatch
	p := &w.params
	// pending: buf[s-1] is not yet emitted; prevLen and prevDist are the
	// best match found there.
	pending := false
	prevLen, prevDist := 0, int32(0)
	for s < stop {
		curLen, curDist := 0, int32(0)
		if s <= lastHash {
			cand := w.insert(s)
			if prevLen < p.maxLazy {
				chain := p.chain
				if prevLen >= p.good {
					chain >>= 2
				}
				curLen, curDist = w.longestMatch(s, cand, max(prevLen, minMatch-1), chain)
			}
		}
		if pending && prevLen >= minMatch && curLen <= prevLen {
			w.addMatch(prevLen, prevDist)
			end := s - 1 + prevLen
			for q := s + 1; q < end && q <= lastHash; q++ {
				w.insert(q)
			}
			s, pending, prevLen = end, false, 0
			continue
		}
		if pending {
			w.addLiteral(w.buf[s-1])
		}
		pending, prevLen, prevDist = true, curLen, curDist
		s++
		if curLen < minMatch {
			if k := w.skipLiterals(s, stop); k > 0 {
				w.addLiteral(w.buf[s-1])
				w.addLiterals(w.buf[s : s+k])
				s += k
				pending, prevLen = false, 0
			}
		}
	}
	if pending {
		if prevLen >= minMatch {
			w.addMatch(prevLen, prevDist)
			end := s - 1 + prevLen
			for q := s; q < end && q <= lastHash; q++ {
				w.insert(q)
			}
			return end
		}
		w.addLiteral(w.buf[s-1])
	}
	return s
}
