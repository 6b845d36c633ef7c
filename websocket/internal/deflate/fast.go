package deflate

// tokenizeFast is level 1: greedy matching against the most recent
// position with the same hash, like compress/flate's level 1 (after
// Snappy). Where nothing matches it looks at ever fewer positions, so
// incompressible input goes by quickly. Positions inside a match are not
// indexed; instead, each search first tries the previous match's
// distance, which keeps runs and repeated records matching.
func (w *Writer) tokenizeFast(s, stop int) int {
	buf := w.buf[:w.end]
	table := w.table
	mask := uint32(len(table) - 1)
	shift := w.shift
	base, hist, wsize := w.base, w.hist, int32(w.wsize)
	// Matches can start before scanStop: they need 4 bytes to hash.
	scanStop := min(stop, len(buf)-minMatch+1)
	floor := max(int(hist-base), 0) // lowest index a match may start at
	dist := w.lastDist
	nextEmit := s

	for s < scanStop {
		c := s - int(dist)
		if dist == 0 || c < floor || load32(buf, s) != load32(buf, c) {
			// Look for a 4-byte match, skipping ahead faster the longer
			// the search goes on: every position for 32 tries, then
			// every second, and so on.
			for skip := 32; ; skip++ {
				cv := load32(buf, s)
				h := hash4(cv, shift) & mask
				cand := table[h]
				abs := base + int32(s)
				table[h] = abs
				if d := abs - cand; d > 0 && d <= wsize && cand >= hist && load32(buf, int(cand-base)) == cv {
					dist, c = d, int(cand-base)
					break
				}
				s += skip >> 5
				if s >= scanStop {
					goto done
				}
			}
		}

		// Extend backwards over bytes that were about to be literals.
		start := s
		for s > nextEmit && c > floor && buf[s-1] == buf[c-1] && start-s < maxMatch-minMatch {
			s--
			c--
		}
		w.addLiterals(buf[nextEmit:s])
		k := start - s + minMatch // bytes known to match
		l := k + matchLen(buf[c+k:], buf[s+k:min(s+maxMatch, len(buf))])
		w.addMatch(l, dist)
		s += l
		nextEmit = s
		// Index the end of the match, where the next one may begin.
		if s < scanStop {
			for _, p := range [2]int{s - 2, s - 1} {
				table[hash4(load32(buf, p), shift)&mask] = base + int32(p)
			}
		}
	}

done:
	w.lastDist = dist
	s = max(nextEmit, stop)
	w.addLiterals(buf[nextEmit:s])
	return s
}
