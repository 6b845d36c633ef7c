package shell

// ring keeps the newest bytes a terminal wrote, at most cap(buf): the
// scrollback a page that attaches is sent first. Not safe for concurrent
// use: the session's lock guards it.
type ring struct {
	buf   []byte // fixed size, allocated on first write
	size  int
	start int // index of the oldest byte
	n     int // bytes held
	total int64
}

func newRing(size int) *ring { return &ring{size: size} }

// write appends p, dropping the oldest bytes past the size.
func (r *ring) write(p []byte) {
	r.total += int64(len(p))
	if r.size <= 0 {
		return
	}
	if r.buf == nil {
		r.buf = make([]byte, r.size)
	}
	if len(p) >= r.size {
		copy(r.buf, p[len(p)-r.size:])
		r.start, r.n = 0, r.size
		return
	}
	end := (r.start + r.n) % r.size
	c := copy(r.buf[end:], p)
	copy(r.buf, p[c:])
	r.n += len(p)
	if r.n > r.size {
		r.start = (r.start + r.n - r.size) % r.size
		r.n = r.size
	}
}

// bytes returns a copy of what is held, oldest first.
func (r *ring) bytes() []byte {
	out := make([]byte, r.n)
	if r.n == 0 {
		return out
	}
	c := copy(out, r.buf[r.start:min(r.start+r.n, r.size)])
	copy(out[c:], r.buf[:r.n-c])
	return out
}
