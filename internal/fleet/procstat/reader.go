package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrUnsupported is wrapped by the errors of output the parser does not
// know: a sample without the counters it needs, or no sample at all.
var ErrUnsupported = errors.New("unsupported output")

// Defaults of the zero values of Limits.
const (
	DefaultMaxLine       = 512  // bytes kept of a line; the rest is skipped
	DefaultMaxLines      = 4096 // lines of one sample, or of output before the first
	DefaultMaxCores      = 1024
	DefaultMaxInterfaces = 256
)

// Limits bound what a Reader keeps. The zero value of a field means its
// default.
type Limits struct {
	// MaxLine is how many bytes of a line are read; the rest of a longer
	// line is skipped (/proc/stat's intr line is long, and not needed).
	MaxLine int
	// MaxLines is the most lines one sample may have, and the most lines
	// of other output before the first sample; beyond either the output
	// is unsupported.
	MaxLines int
	// MaxCores is how many per-core counters are kept (cores numbered
	// from MaxCores up are left out of Sample.Cores, not of Sample.CPU).
	MaxCores int
	// MaxInterfaces is how many network interfaces are kept.
	MaxInterfaces int
}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxLines <= 0 {
		l.MaxLines = DefaultMaxLines
	}
	if l.MaxCores <= 0 {
		l.MaxCores = DefaultMaxCores
	}
	if l.MaxInterfaces <= 0 {
		l.MaxInterfaces = DefaultMaxInterfaces
	}
	return l
}

// Reader reads the samples of the loop's output. One goroutine may use it
// at a time.
type Reader struct {
	br    *bufio.Reader
	lim   Limits
	buf   []byte // the current line, at most lim.MaxLine bytes
	fresh bool   // no sample read yet
}

// NewReader returns a Reader of r's output.
func NewReader(r io.Reader, lim Limits) *Reader {
	lim = lim.withDefaults()
	return &Reader{br: bufio.NewReaderSize(r, max(lim.MaxLine, 64)), lim: lim, fresh: true}
}

// line reads the next line, without its newline, cut to MaxLine bytes.
// The slice is valid until the next call.
func (r *Reader) line() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if room := r.lim.MaxLine - len(r.buf); room > 0 {
			r.buf = append(r.buf, chunk[:min(len(chunk), room)]...)
		}
		switch {
		case err == nil:
			return bytes.TrimRight(r.buf, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(r.buf) > 0:
			return bytes.TrimRight(r.buf, "\r\n"), nil
		default:
			return nil, err
		}
	}
}

// Next reads and parses the next sample. At the end of the output it
// returns io.EOF, or io.ErrUnexpectedEOF when the output ends inside a
// sample. A sample the parser does not know returns an error wrapping
// ErrUnsupported; the Reader can go on to the next one. Output before the
// first sample (a login banner) is skipped, up to Limits.MaxLines lines.
func (r *Reader) Next() (Sample, error) {
	var first string
	for n := 0; ; n++ {
		line, err := r.line()
		if errors.Is(err, io.EOF) {
			if n > 0 && r.fresh {
				return Sample{}, fmt.Errorf("%w: no sample in the output, which begins %q", ErrUnsupported, first)
			}
			return Sample{}, err
		}
		if err != nil {
			return Sample{}, err
		}
		if string(line) == markBegin {
			break
		}
		if n == 0 {
			first = string(line)
		}
		if bytes.HasPrefix(line, []byte("@wsdeck-fleet ")) {
			return Sample{}, fmt.Errorf("%w: sample format %q, want %q", ErrUnsupported, line, markBegin)
		}
		if n >= r.lim.MaxLines {
			return Sample{}, fmt.Errorf("%w: no sample in %d lines of output, which begins %q", ErrUnsupported, n, first)
		}
	}
	r.fresh = false
	p := parser{lim: r.lim}
	for n := 0; ; n++ {
		line, err := r.line()
		if errors.Is(err, io.EOF) {
			return Sample{}, io.ErrUnexpectedEOF
		}
		if err != nil {
			return Sample{}, err
		}
		if n >= r.lim.MaxLines {
			return Sample{}, fmt.Errorf("%w: a sample longer than %d lines", ErrUnsupported, r.lim.MaxLines)
		}
		switch string(line) {
		case markEnd:
			return p.finish()
		case markBegin: // the sample before was cut short: start again
			p = parser{lim: r.lim}
			continue
		case markDf:
			p.section = "df"
			continue
		}
		if sec, ok := files[string(line)]; ok {
			p.section = sec
			continue
		}
		p.add(line)
	}
}

// Parse parses one whole sample, markers included, as the loop prints it.
func Parse(b []byte, lim Limits) (Sample, error) {
	return NewReader(bytes.NewReader(b), lim).Next()
}

// parser builds one sample from its lines.
type parser struct {
	lim     Limits
	section string
	s       Sample

	hasCPU, hasMemTotal, hasAvail, hasLoad, hasUptime bool
	free, buffers, cached                             uint64
	hasFree                                           bool
	dfUnit                                            uint64 // bytes per df block, from its header
	fields                                            [][]byte
}

func (p *parser) add(line []byte) {
	p.fields = appendFields(p.fields[:0], line)
	f := p.fields
	if len(f) == 0 {
		return
	}
	switch p.section {
	case "stat":
		p.stat(f)
	case "meminfo":
		p.meminfo(f)
	case "loadavg":
		if len(f) >= 3 && !p.hasLoad {
			var ok [3]bool
			for i := range 3 {
				p.s.Load[i], ok[i] = parseFloat(f[i])
			}
			p.hasLoad = ok[0] && ok[1] && ok[2]
		}
	case "uptime":
		if !p.hasUptime {
			p.s.Uptime, p.hasUptime = parseFloat(f[0])
		}
	case "netdev":
		p.netdev(line)
	case "df":
		p.df(f)
	}
}

// stat takes a line of /proc/stat: cpu, cpuN and btime.
func (p *parser) stat(f [][]byte) {
	name := f[0]
	switch {
	case string(name) == "btime" && len(f) >= 2:
		if v, ok := parseUint(f[1]); ok && v < 1<<62 {
			p.s.BootTime = int64(v)
		}
	case string(name) == "cpu":
		if t, ok := cpuTimes(f[1:]); ok {
			p.s.CPU, p.hasCPU = t, true
		}
	case bytes.HasPrefix(name, []byte("cpu")):
		n, ok := parseUint(name[3:])
		if !ok || n >= uint64(p.lim.MaxCores) {
			return
		}
		t, ok := cpuTimes(f[1:])
		if !ok {
			return
		}
		for uint64(len(p.s.Cores)) <= n {
			p.s.Cores = append(p.s.Cores, CPUTimes{})
		}
		p.s.Cores[n] = t
	}
}

// cpuTimes reads user nice system idle [iowait irq softirq steal [guest
// [guest_nice]]]: at least four fields (kernels before 2.5.41).
func cpuTimes(f [][]byte) (CPUTimes, bool) {
	if len(f) < 4 {
		return CPUTimes{}, false
	}
	var t CPUTimes
	for i := range min(len(f), 8) { // guest and guest_nice are inside user and nice
		v, ok := parseUint(f[i])
		if !ok {
			return CPUTimes{}, false
		}
		t.Total += v
		if i == 3 || i == 4 {
			t.Idle += v
		}
	}
	return t, true
}

func (p *parser) meminfo(f [][]byte) {
	if len(f) < 2 {
		return
	}
	v, ok := parseUint(f[1])
	if !ok {
		return
	}
	if len(f) >= 3 && string(f[2]) == "kB" {
		v *= 1024
	}
	switch string(f[0]) {
	case "MemTotal:":
		p.s.MemTotal, p.hasMemTotal = v, true
	case "MemAvailable:":
		p.s.MemAvailable, p.hasAvail = v, true
	case "MemFree:":
		p.free, p.hasFree = v, true
	case "Buffers:":
		p.buffers = v
	case "Cached:":
		p.cached = v
	}
}

// netdev takes a line of /proc/net/dev: "name: rx_bytes 7 more, tx_bytes
// 7 more". Older kernels print no space after the colon.
func (p *parser) netdev(line []byte) {
	p.s.HasNet = true
	i := bytes.LastIndexByte(line, ':')
	if i < 0 {
		return // a header line
	}
	name := bytes.TrimSpace(line[:i])
	f := appendFields(p.fields[:0], line[i+1:])
	p.fields = f
	if len(name) == 0 || len(f) < 16 || string(name) == "lo" || len(p.s.Ifaces) >= p.lim.MaxInterfaces {
		return
	}
	rx, ok1 := parseUint(f[0])
	tx, ok2 := parseUint(f[8])
	if ok1 && ok2 {
		p.s.Ifaces = append(p.s.Ifaces, Iface{Name: string(name), Rx: rx, Tx: tx})
	}
}

// df takes a line of df -P: the header names the block size
// ("1024-blocks", or "512-blocks" where POSIXLY_CORRECT is set), the next
// line the root filesystem: name blocks used available capacity mount.
func (p *parser) df(f [][]byte) {
	if string(f[0]) == "Filesystem" && len(f) >= 2 {
		if unit, ok := bytes.CutSuffix(f[1], []byte("-blocks")); ok {
			p.dfUnit, _ = parseUint(unit)
		}
		return
	}
	if len(f) < 6 || p.dfUnit == 0 || p.s.HasDisk {
		return
	}
	used, ok1 := parseUint(f[2])
	avail, ok2 := parseUint(f[3])
	if ok1 && ok2 && used < 1<<53/p.dfUnit && avail < 1<<53/p.dfUnit {
		// Total as df's capacity counts it: space for non-root users.
		p.s.DiskUsed, p.s.DiskTotal, p.s.HasDisk = used*p.dfUnit, (used+avail)*p.dfUnit, true
	}
}

// finish checks that the sample has what it must.
func (p *parser) finish() (Sample, error) {
	var missing []string
	if !p.hasCPU {
		missing = append(missing, "the cpu line of /proc/stat")
	}
	if !p.hasMemTotal {
		missing = append(missing, "MemTotal of /proc/meminfo")
	}
	if !p.hasLoad {
		missing = append(missing, "/proc/loadavg")
	}
	if !p.hasUptime {
		missing = append(missing, "/proc/uptime")
	}
	if len(missing) > 0 {
		return Sample{}, fmt.Errorf("%w: no %v", ErrUnsupported, missing)
	}
	if !p.hasAvail {
		if !p.hasFree {
			return Sample{}, fmt.Errorf("%w: neither MemAvailable nor MemFree in /proc/meminfo", ErrUnsupported)
		}
		p.s.MemAvailable = p.free + p.buffers + p.cached
	}
	p.s.MemAvailable = min(p.s.MemAvailable, p.s.MemTotal)
	return p.s, nil
}

// appendFields appends the space-separated fields of line to f.
func appendFields(f [][]byte, line []byte) [][]byte {
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j > i {
			f = append(f, line[i:j])
		}
		i = j
	}
	return f
}

func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

func parseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 32 {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || v != v || v < 0 || v > 1e15 {
		return 0, false
	}
	return v, true
}
