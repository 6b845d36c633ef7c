package harness

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchResult is one line of go test -bench output.
type benchResult struct {
	name           string // without the -GOMAXPROCS suffix
	nsPerOp        float64
	mbPerSec       float64 // 0 when the benchmark sets no bytes
	bytesPerOp     float64
	allocsPerOp    float64
	hasMem, hasMBs bool
}

// micro is the output of the websocket package's own benchmarks.
type micro struct {
	cmd     string
	results []benchResult
	raw     string
	err     error
}

// runMicro runs the websocket package's benchmarks (written with the
// package, not here) and keeps their output for the report.
func runMicro(ctx context.Context, cfg Config, rep *report) error {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", cfg.MicroBenchtime, "./websocket/"}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = cfg.WsdeckDir
	out, err := cmd.CombinedOutput()
	m := &micro{cmd: "go " + strings.Join(args, " "), raw: string(out), results: parseBench(string(out))}
	if err != nil {
		m.err = fmt.Errorf("go test: %w", err)
	}
	rep.micro = m
	return m.err
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parseBench(out string) []benchResult {
	var rs []benchResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r := benchResult{name: strings.TrimPrefix(m[1], "Benchmark")}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.nsPerOp = v
			case "MB/s":
				r.mbPerSec, r.hasMBs = v, true
			case "B/op":
				r.bytesPerOp, r.hasMem = v, true
			case "allocs/op":
				r.allocsPerOp = v
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// microPairs are the comparisons the issue asks for: a benchmark beside
// the one it is measured against, matched by sub-benchmark name.
var microPairs = []struct{ what, ours, ref, goal string }{
	{"masking vs copy()", "Mask/", "Copy/", "at least 0.80"},
	{"UTF-8 validation vs utf8.Valid", "UTF8Validator/", "UTF8Valid/", "at least 1.00"},
}
