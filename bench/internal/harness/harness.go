// Package harness runs the comparison: it starts each library's server in
// a subprocess, drives it with the load generator, alternating the servers
// round by round, and writes the medians and each peer's ratio to wsdeck
// to RESULTS.md.
package harness

import (
	"context"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// Config is the harness's settings; cmd/wsbench fills it from flags.
type Config struct {
	Servers []string // the first is compared with the others; wsdeck must be one
	Measure []string // echo, compressed, idle, broadcast, fanout, micro

	Sizes           []int // echo payload sizes
	CompressedSizes []int // payload sizes of the compressed rows
	Conns           int   // echo connections, fewer for large payloads (see connsFor)
	Warmup          time.Duration
	Duration        time.Duration
	Rounds          int // rounds of every measurement; servers alternate within each

	IdleConns  []int // idle connection counts
	IdleRounds int

	BroadcastSubs   int
	BroadcastRounds int // messages timed per server per round
	BroadcastSize   int

	Fanout FanoutConfig // the chat fan-out beside Centrifugo

	MicroBenchtime string // -benchtime for go test -bench
	WsdeckDir      string // the wsdeck module, for the microbenchmarks

	// QuietWait is how long to wait, before each server's run, for the
	// rest of the machine to go quiet (see waitQuiet).
	QuietWait time.Duration

	Out        string // RESULTS.md
	CPUProfile string // directory for CPU profiles of the profiled servers
	Profile    []string
	Quick      bool
	Timeout    time.Duration // bounds the whole run
	Args       []string      // the command line, for the report
}

// Run runs the selected measurements and writes the report.
func Run(cfg Config) error {
	if !slices.Contains(cfg.Servers, baseline) {
		return fmt.Errorf("the servers must include %s, the baseline", baseline)
	}
	// The baseline first in every listing.
	cfg.Servers = append([]string{baseline}, slices.DeleteFunc(slices.Clone(cfg.Servers), func(s string) bool { return s == baseline })...)
	// The load generator holds every connection's client end; each server,
	// a subprocess inheriting the limit, its server end.
	need := slices.Max(append([]int{cfg.BroadcastSubs, cfg.Conns}, cfg.IdleConns...)) + fileMargin
	if slices.Contains(cfg.Measure, "fanout") {
		for _, l := range cfg.Fanout.Loads {
			need = max(need, l.Subs+cfg.Fanout.Pubs+fileMargin)
		}
	}
	limit, err := raiseFileLimit(need)
	if err != nil {
		return err
	}
	var problems []string
	if limit < need && slices.Contains(cfg.Measure, "idle") {
		for i, n := range cfg.IdleConns {
			if n+fileMargin > limit {
				cfg.IdleConns[i] = (limit - fileMargin) / 1000 * 1000
				problems = append(problems, fmt.Sprintf("%d idle connections need an open-file limit of %d, and the hard limit is %d, "+
					"which this process may not raise (it lacks CAP_SYS_RESOURCE): measured %d instead. "+
					"Run as root, or after ulimit -Hn %d, for the full figure.", n, n+fileMargin, limit, cfg.IdleConns[i], n+fileMargin))
			}
		}
	}
	if limit < need && slices.Contains(cfg.Measure, "broadcast") {
		if cfg.BroadcastSubs+fileMargin > limit {
			return fmt.Errorf("%d subscribers need an open-file limit of %d; the limit is %d", cfg.BroadcastSubs, cfg.BroadcastSubs+fileMargin, limit)
		}
	}
	if cfg.CPUProfile != "" {
		if err := os.MkdirAll(cfg.CPUProfile, 0o755); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()

	rep := &report{cfg: cfg, machine: describeMachine(), start: time.Now(), problems: problems}
	for _, m := range cfg.Measure {
		var err error
		switch m {
		case "echo":
			err = runEcho(ctx, cfg, rep, false)
		case "compressed":
			err = runEcho(ctx, cfg, rep, true)
		case "idle":
			err = runIdle(ctx, cfg, rep)
		case "broadcast":
			err = runBroadcast(ctx, cfg, rep)
		case "fanout":
			err = runFanout(ctx, cfg, rep)
		case "micro":
			err = runMicro(ctx, cfg, rep)
		default:
			err = fmt.Errorf("unknown measurement %q", m)
		}
		if err != nil {
			rep.problems = append(rep.problems, fmt.Sprintf("%s: %v", m, err))
			log.Printf("%s: %v", m, err)
		}
		if ctx.Err() != nil {
			rep.problems = append(rep.problems, fmt.Sprintf("the run hit its %v time limit", cfg.Timeout))
			break
		}
	}
	rep.end, rep.done = time.Now(), true
	if err := rep.write(cfg.Out); err != nil {
		return err
	}
	log.Printf("wrote %s", cfg.Out)
	return nil
}

// fileMargin is the open files a process needs besides its connections.
const fileMargin = 500

// order is the order of the servers in round r: reversed every other
// round, so that none always runs first or last.
func order(servers []string, r int) []string {
	s := slices.Clone(servers)
	if r%2 == 1 {
		slices.Reverse(s)
	}
	return s
}

// raiseFileLimit tries to make room for n open files, raising the hard
// limit too when the process may (root with CAP_SYS_RESOURCE). It returns
// the limit it got.
func raiseFileLimit(n int) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= uint64(n) {
		return int(lim.Cur), nil
	}
	want := lim
	want.Cur = uint64(n)
	want.Max = max(lim.Max, want.Cur)
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return n, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return int(lim.Cur), nil
}

// machine describes where the run happened.
type machine struct {
	cores    int
	cpu      string
	kernel   string
	goVer    string
	loadAvg  string
	versions map[string]string // module path → version
}

func describeMachine() machine {
	m := machine{cores: runtime.NumCPU(), goVer: runtime.Version(), cpu: "unknown", kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.cpu = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = string(trimNL(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.loadAvg = string(trimNL(b))
	}
	m.versions = moduleVersions()
	return m
}
