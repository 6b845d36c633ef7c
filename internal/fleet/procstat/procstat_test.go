package procstat

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readAll reads every sample of a capture, failing on any error but EOF.
func readAll(t *testing.T, r io.Reader) []Sample {
	t.Helper()
	rd := NewReader(r, Limits{})
	var out []Sample
	for {
		s, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("sample %d: %v", len(out), err)
		}
		out = append(out, s)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.051 }

// TestCaptures parses real and realistic captures of the loop's output
// and checks the figures between their first two samples.
func TestCaptures(t *testing.T) {
	const kB = 1024
	tests := []struct {
		file      string
		samples   int
		rates     bool
		cpu       float64 // -1: only checked to be within 0 to 100
		cores     map[int]float64
		nCores    int
		memUsed   uint64 // 0: not checked
		memTotal  uint64
		rx, tx    float64 // -1: not checked
		load1     float64
		diskUsed  uint64
		diskTotal uint64
	}{
		{file: "linux-6.18-2cores.txt", samples: 3, rates: true, cpu: -1, nCores: 2, memTotal: 24683784 * kB, rx: -1, tx: -1, load1: -1},
		// The loop since its read builtins: only the lines it needs, net/dev's unindented.
		{file: "linux-6.18-2cores-read.txt", samples: 3, rates: true, cpu: -1, nCores: 2, memTotal: 24683784 * kB, rx: -1, tx: -1, load1: -1},
		{file: "linux-2.6.32-1core.txt", samples: 2, rates: true, cpu: 25, cores: map[int]float64{0: 25}, nCores: 1,
			memUsed: (1024000 - 590000) * kB, memTotal: 1024000 * kB, rx: 1000, tx: 14592, load1: 0.5,
			diskUsed: 4000100 * kB, diskTotal: 10000000 * kB},
		{file: "linux-4.19-8cores.txt", samples: 2, rates: true, cpu: 15, cores: map[int]float64{0: 10, 3: 50, 7: 10}, nCores: 8,
			memUsed: (16384000 - 4096000) * kB, memTotal: 16384000 * kB, rx: 125000, tx: 250000, load1: 1.2,
			diskUsed: 20 << 30, diskTotal: 100 << 30},
		{file: "linux-5.15-64cores.txt", samples: 2, rates: true, cpu: 25, cores: map[int]float64{0: 25, 62: 25}, nCores: 63,
			memUsed: (528000000 - 396000000) * kB, memTotal: 528000000 * kB, rx: 50<<20 + 40000, tx: 10<<20 + 40000, load1: 16.1,
			diskUsed: 500 << 30, diskTotal: 2000 << 30},
		{file: "reboot.txt", samples: 2, rates: false, nCores: 0,
			memUsed: (2048000 - 1900000) * kB, memTotal: 2048000 * kB, rx: 0, tx: 0, load1: 0.1},
		{file: "counter-reset.txt", samples: 2, rates: true, cpu: 10, nCores: 1,
			memUsed: 512000 * kB, memTotal: 1024000 * kB, rx: 3000, tx: 1000, load1: 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			// The same samples whole, a byte at a time and in halves.
			whole := readAll(t, bytes.NewReader(b))
			for name, r := range map[string]io.Reader{
				"one byte": iotest.OneByteReader(bytes.NewReader(b)),
				"half":     iotest.HalfReader(bytes.NewReader(b)),
			} {
				if got := readAll(t, r); len(got) != len(whole) || Compute(&got[0], &got[1]).CPU != Compute(&whole[0], &whole[1]).CPU {
					t.Errorf("read %s: %d samples, want %d alike", name, len(got), len(whole))
				}
			}
			if len(whole) != tt.samples {
				t.Fatalf("%d samples, want %d", len(whole), tt.samples)
			}
			first := Compute(nil, &whole[0])
			if first.Rates || first.CPU != 0 {
				t.Errorf("the first sample has rates: %+v", first)
			}
			f := Compute(&whole[0], &whole[1])
			if f.Rates != tt.rates {
				t.Fatalf("Rates = %v, want %v", f.Rates, tt.rates)
			}
			switch {
			case tt.cpu == -1 && (f.CPU < 0 || f.CPU > 100):
				t.Errorf("CPU %v out of range", f.CPU)
			case tt.cpu >= 0 && tt.rates && !near(f.CPU, tt.cpu):
				t.Errorf("CPU %v, want %v", f.CPU, tt.cpu)
			}
			if tt.rates && len(f.Cores) != tt.nCores {
				t.Errorf("%d cores, want %d", len(f.Cores), tt.nCores)
			}
			for i, want := range tt.cores {
				if !near(f.Cores[i], want) {
					t.Errorf("core %d: %v, want %v", i, f.Cores[i], want)
				}
			}
			for i, c := range f.Cores {
				if c < 0 || c > 100 {
					t.Errorf("core %d: %v out of range", i, c)
				}
			}
			if tt.memUsed != 0 && f.MemUsed != tt.memUsed {
				t.Errorf("memory used %d, want %d", f.MemUsed, tt.memUsed)
			}
			if f.MemTotal != tt.memTotal || f.MemUsed > f.MemTotal {
				t.Errorf("memory %d of %d, want a total of %d", f.MemUsed, f.MemTotal, tt.memTotal)
			}
			if !f.HasNet || f.RxRate < 0 || f.TxRate < 0 {
				t.Errorf("network: %v %v %v", f.HasNet, f.RxRate, f.TxRate)
			}
			if tt.rx >= 0 && (!near(f.RxRate, tt.rx) || !near(f.TxRate, tt.tx)) {
				t.Errorf("network rx %v tx %v, want %v %v", f.RxRate, f.TxRate, tt.rx, tt.tx)
			}
			if tt.load1 >= 0 && f.Load[0] != tt.load1 {
				t.Errorf("load %v, want %v", f.Load, tt.load1)
			}
			if !f.HasDisk || f.DiskUsed > f.DiskTotal || f.DiskTotal == 0 {
				t.Errorf("disk: %v %d of %d", f.HasDisk, f.DiskUsed, f.DiskTotal)
			}
			if tt.diskTotal != 0 && (f.DiskUsed != tt.diskUsed || f.DiskTotal != tt.diskTotal) {
				t.Errorf("disk %d of %d, want %d of %d", f.DiskUsed, f.DiskTotal, tt.diskUsed, tt.diskTotal)
			}
		})
	}
}

// TestUnsupported: output without the counters is an error wrapping
// ErrUnsupported, never a sample of zeros.
func TestUnsupported(t *testing.T) {
	for _, tt := range []struct{ name, text string }{
		{"freebsd", ""}, // from testdata
		{"nologin", ""},
		{"banner only", "Welcome\nto the machine\n"},
		{"no uptime", "@wsdeck-fleet 1\n==> /proc/stat <==\ncpu 1 2 3 4\n==> /proc/meminfo <==\nMemTotal: 10 kB\nMemFree: 5 kB\n==> /proc/loadavg <==\n0 0 0\n@end\n"},
		{"no memory", "@wsdeck-fleet 1\n==> /proc/stat <==\ncpu 1 2 3 4\n==> /proc/loadavg <==\n0 0 0\n==> /proc/uptime <==\n1.0 1.0\n@end\n"},
		{"cpu line of three fields", "@wsdeck-fleet 1\n==> /proc/stat <==\ncpu 1 2 3\n==> /proc/meminfo <==\nMemTotal: 10 kB\nMemFree: 5 kB\n==> /proc/loadavg <==\n0 0 0\n==> /proc/uptime <==\n1 1\n@end\n"},
		{"another format", "@wsdeck-fleet 2\n==> /proc/stat <==\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := []byte(tt.text)
			if text == nil || len(text) == 0 {
				var err error
				if text, err = os.ReadFile(filepath.Join("testdata", "unsupported-"+tt.name+".txt")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := NewReader(bytes.NewReader(text), Limits{}).Next()
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestLimits: a long line is cut (and the rest skipped), a long sample
// and long output before any sample are refused, cores and interfaces
// beyond the limits are left out.
func TestLimits(t *testing.T) {
	good := "@wsdeck-fleet 1\n==> /proc/stat <==\ncpu 1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 3 4\nintr " + strings.Repeat("1 ", 10000) +
		"\n==> /proc/meminfo <==\nMemTotal: 10 kB\nMemAvailable: 5 kB\n==> /proc/loadavg <==\n0.5 0.2 0.1 1/2 3\n==> /proc/uptime <==\n1 1\n==> /proc/net/dev <==\n" +
		"a: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\nb: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\n@end\n"
	s, err := Parse([]byte(good), Limits{MaxLine: 64, MaxCores: 1, MaxInterfaces: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Cores) != 1 || len(s.Ifaces) != 1 || s.MemTotal != 10240 || s.Load[0] != 0.5 {
		t.Errorf("%+v", s)
	}
	long := "@wsdeck-fleet 1\n==> /proc/stat <==\n" + strings.Repeat("x\n", 100) + "@end\n"
	if _, err := Parse([]byte(long), Limits{MaxLines: 50}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a sample of 100 lines over a limit of 50: %v", err)
	}
	junk := strings.Repeat("banner\n", 100) + good
	if _, err := Parse([]byte(junk), Limits{MaxLines: 50}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("100 lines of banner over a limit of 50: %v", err)
	}
	if _, err := Parse([]byte(junk), Limits{}); err != nil {
		t.Errorf("a banner before a sample: %v", err)
	}
	if _, err := Parse([]byte(good[:len(good)-5]), Limits{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a sample cut short: %v", err)
	}
}

// TestCounterDelta: wraps at 2^32 go through the wrap, resets count from
// zero, nothing is negative or a spike.
func TestCounterDelta(t *testing.T) {
	for _, tt := range []struct{ prev, cur, want uint64 }{
		{100, 250, 150},
		{1<<32 - 100, 50, 150},              // a 32-bit counter wrapped
		{5_000_000_000, 1000, 1000},         // a 64-bit counter reset
		{1000, 10, 10},                      // a small counter reset
		{1<<64 - 1, 5, 5},                   // a reset from the very top
		{1<<32 - 100, 1<<31 + 5, 1<<31 + 5}, // not a plausible wrap: counted as a reset
	} {
		if got := counterDelta(tt.prev, tt.cur); got != tt.want {
			t.Errorf("counterDelta(%d, %d) = %d, want %d", tt.prev, tt.cur, got, tt.want)
		}
	}
	if got := busy(CPUTimes{Idle: 100, Total: 1000}, CPUTimes{Idle: 90, Total: 1100}); got != 100 {
		t.Errorf("idle going backwards: %v, want 100", got)
	}
	if got := busy(CPUTimes{Idle: 100, Total: 1000}, CPUTimes{Idle: 50, Total: 500}); got != 0 {
		t.Errorf("total going backwards: %v, want 0", got)
	}
}

// TestLoopScript runs Loop's command on this machine, when it has /proc,
// from sh and from bash (a login shell other than sh: the command starts
// sh itself), and parses the samples: every one has the df figures,
// though df runs once in DfEvery samples.
func TestLoopScript(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	for _, name := range []string{"sh", "bash"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			shell, err := exec.LookPath(name)
			if err != nil {
				t.Skip(err)
			}
			out, err := runFor(t, shell, Loop(0))
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, bytes.NewReader(out))
			if len(got) < 2 {
				t.Fatalf("%d samples in %q", len(got), out)
			}
			for i := 1; i < len(got); i++ {
				if f := Compute(&got[i-1], &got[i]); !f.Rates || f.MemTotal == 0 || !f.HasDisk || !f.HasNet || len(f.Cores) == 0 {
					t.Errorf("sample %d: figures %+v", i, f)
				}
			}
		})
	}
}

// TestLoopQuoting: the loop goes to the login shell as exec sh -c
// '...', which a csh login shell parses as well as a POSIX one (tried
// with tcsh): one pair of single quotes, no newline, no ! (csh's
// history), no backslash but printf's own.
func TestLoopQuoting(t *testing.T) {
	l := Loop(5 * time.Second)
	body, ok := strings.CutPrefix(l, "exec sh -c '")
	if !ok || !strings.HasSuffix(body, "'") || strings.Count(l, "'") != 2 {
		t.Fatalf("not one single-quoted argument to sh -c: %s", l)
	}
	if strings.ContainsAny(l, "\n!") {
		t.Errorf("a newline or a ! (csh's history) in %s", l)
	}
	if strings.Count(l, `\`) != strings.Count(l, `\n`) {
		t.Errorf("a backslash other than printf's \\n: %s", l)
	}
	if !strings.Contains(l, "sleep 5 ") {
		t.Errorf("no sleep 5 in %s", l)
	}
}

func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("@wsdeck-fleet 1\n==> /proc/net/dev <==\n:\n@df\nFilesystem 0-blocks\nx 1 1 1 1 /\n@end\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxLine: 128, MaxLines: 64, MaxCores: 8, MaxInterfaces: 4}
		r := NewReader(bytes.NewReader(b), lim)
		var prev *Sample
		for range 1000 {
			s, err := r.Next()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("error not ErrUnsupported: %v", err)
				}
				continue
			}
			if len(s.Cores) > lim.MaxCores || len(s.Ifaces) > lim.MaxInterfaces {
				t.Fatalf("limits passed: %d cores, %d interfaces", len(s.Cores), len(s.Ifaces))
			}
			fig := Compute(prev, &s)
			if fig.CPU < 0 || fig.CPU > 100 || fig.RxRate < 0 || fig.TxRate < 0 || fig.MemUsed > fig.MemTotal ||
				math.IsNaN(fig.RxRate) || math.IsInf(fig.RxRate, 0) || math.IsInf(fig.TxRate, 0) {
				t.Fatalf("figures out of range: %+v", fig)
			}
			prev = &s
		}
	})
}
