package harness

import (
	"context"
	"errors"
	"fmt"
	"log"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/load"
	"github.com/wsdeck/wsdeck/bench/internal/server"
)

// maxInFlight bounds the bytes in flight in each direction of an echo run:
// large payloads get fewer connections, so that the run fits in memory.
const maxInFlight = 64 << 20

func connsFor(cfg Config, size int) int {
	return max(1, min(cfg.Conns, maxInFlight/max(size, 1)))
}

var echoMetrics = []metric{
	{name: "msgs/s", format: fmtCount, ratio: true, higherBetter: true},
	{name: "MB/s", format: fmtFloat},
	{name: "p50", format: fmtDur},
	{name: "p99", format: fmtDur, ratio: true},
	{name: "server CPU/msg", format: fmtDur, ratio: true},
	{name: "server cores", format: fmtFloat},
	{name: "client cores", format: fmtFloat},
	{name: "other cores", format: fmtFloat},
}

// runEcho measures echo throughput and latency at every payload size.
func runEcho(ctx context.Context, cfg Config, rep *report, compress bool) error {
	section, sizes, servers := "Echo, compression off", cfg.Sizes, cfg.Servers
	if compress {
		section, sizes = "Echo, permessage-deflate on (compressed rows)", cfg.CompressedSizes
		servers = slices.DeleteFunc(slices.Clone(servers), server.IsReference) // the floors have no compression
	}
	for _, size := range sizes {
		conns := connsFor(cfg, size)
		t := newTable(fmt.Sprintf("%s: %s messages, %d connections", section, sizeName(size), conns),
			servers, cfg.Rounds, echoMetrics...)
		if conns < cfg.Conns {
			t.note = fmt.Sprintf("%d connections rather than %d, to keep %s in flight each way.",
				conns, cfg.Conns, sizeName(conns*size))
		}
		for r := range cfg.Rounds {
			for _, s := range order(servers, r) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				waitQuiet(ctx, cfg.QuietWait)
				if err := echoOnce(ctx, cfg, t, s, r, size, conns, compress); err != nil {
					t.fail(s, r, err)
					log.Printf("%s, %s: %v", t.title, s, err)
				}
			}
		}
		rep.add(section, t)
	}
	return nil
}

func echoOnce(ctx context.Context, cfg Config, t *table, name string, r, size, conns int, compress bool) error {
	p, err := startServer(name, server.Options{Mode: server.Echo, Compress: compress})
	if err != nil {
		return err
	}
	defer p.stop()

	w := &window{p: p}
	var profErr error
	tag := strings.ReplaceAll(sizeName(size), " ", "")
	if compress {
		tag += "-deflate"
	}
	profile := profilePath(cfg, name, fmt.Sprintf("echo-%s-r%d", tag, r+1))
	ctx, cancel := context.WithTimeout(ctx, cfg.Warmup+cfg.Duration+2*time.Minute)
	defer cancel()
	res, err := load.Echo(ctx, load.EchoConfig{
		Addr: p.addr, Conns: conns, Size: size, Compress: compress,
		Warmup: cfg.Warmup, Duration: cfg.Duration,
		Window: func(open bool) {
			if open && profile != "" {
				profErr = p.startProfile(profile)
			}
			w.sample(open)
			if !open && profile != "" && profErr == nil {
				profErr = p.stopProfile()
			}
		},
	})
	if errors.Is(err, load.ErrNotNegotiated) {
		return fmt.Errorf("no permessage-deflate: %w", err)
	}
	if err != nil {
		return fmt.Errorf("%w%s", err, p.stderr.String())
	}
	if profErr != nil {
		log.Printf("profiling %s: %v", name, profErr)
	}
	rate := res.MsgsPerSec()
	t.set(name, r, "msgs/s", rate)
	t.set(name, r, "MB/s", rate*float64(size)/1e6)
	t.set(name, r, "p50", res.Latency.Quantile(0.50).Seconds())
	t.set(name, r, "p99", res.Latency.Quantile(0.99).Seconds())
	if res.Msgs > 0 {
		t.set(name, r, "server CPU/msg", w.server.Seconds()/float64(res.Msgs))
	}
	t.set(name, r, "server cores", w.cores(w.server))
	t.set(name, r, "client cores", w.cores(w.client))
	t.set(name, r, "other cores", w.cores(w.others))
	log.Printf("%s, %s, round %d: %s msgs/s, p99 %s, server %.2f cores, client %.2f, others %.2f",
		t.title, name, r+1, fmtCount(rate), res.Latency.Quantile(0.99), w.cores(w.server), w.cores(w.client), w.cores(w.others))
	return nil
}

// profilePath is the file for a CPU profile of the named server's
// measured window, or "" if that server is not profiled.
func profilePath(cfg Config, name, what string) string {
	if cfg.CPUProfile == "" || !slices.Contains(cfg.Profile, name) {
		return ""
	}
	return filepath.Join(cfg.CPUProfile, name+"-"+what+".pprof")
}
