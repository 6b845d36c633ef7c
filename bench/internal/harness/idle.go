package harness

import (
	"context"
	"fmt"
	"log"
	"path/filepath"
	"slices"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/load"
	"github.com/wsdeck/wsdeck/bench/internal/server"
)

var idleMetrics = []metric{
	{name: "RSS/conn", format: fmtBytes, ratio: true},
	{name: "Go heap/conn", format: fmtBytes, ratio: true},
	{name: "stacks/conn", format: fmtBytes},
	{name: "goroutines/conn", format: fmtFloat},
	{name: "RSS total", format: fmtBytes},
}

// idleSettle is how long connections sit idle before the server is
// measured.
const idleSettle = time.Second

// runIdle measures the memory an idle connection costs each server.
func runIdle(ctx context.Context, cfg Config, rep *report) error {
	const section = "Memory per idle connection"
	for _, n := range cfg.IdleConns {
		t := newTable(fmt.Sprintf("%s: %d connections", section, n), cfg.Servers, cfg.IdleRounds, idleMetrics...)
		for r := range cfg.IdleRounds {
			for _, s := range order(cfg.Servers, r) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				waitQuiet(ctx, cfg.QuietWait)
				if err := idleOnce(ctx, cfg, t, s, r, n); err != nil {
					t.fail(s, r, err)
					log.Printf("%s, %s: %v", t.title, s, err)
				}
			}
		}
		rep.add(section, t)
	}
	return nil
}

func idleOnce(ctx context.Context, cfg Config, t *table, name string, r, n int) error {
	p, err := startServer(name, server.Options{Mode: server.Echo})
	if err != nil {
		return err
	}
	defer p.stop()
	s0, err := p.stats()
	if err != nil {
		return err
	}
	rss0, err := p.rss()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	conns, err := load.Idle(ctx, p.addr, n)
	if err != nil {
		return fmt.Errorf("%w%s", err, p.stderr.String())
	}
	defer load.CloseAll(conns)
	time.Sleep(idleSettle)
	s1, err := p.stats()
	if err != nil {
		return err
	}
	rss1, err := p.rss()
	if err != nil {
		return err
	}
	if cfg.CPUProfile != "" && slices.Contains(cfg.Profile, name) {
		path := filepath.Join(cfg.CPUProfile, fmt.Sprintf("%s-idle-%d-r%d.heap.pprof", name, n, r+1))
		if _, err := p.command("heap " + path); err != nil {
			log.Printf("heap profile of %s: %v", name, err)
		}
	}
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	t.set(name, r, "RSS/conn", per(rss0, rss1))
	t.set(name, r, "Go heap/conn", per(s0.HeapInuse, s1.HeapInuse))
	t.set(name, r, "stacks/conn", per(s0.StackInuse, s1.StackInuse))
	t.set(name, r, "goroutines/conn", float64(s1.Goroutines-s0.Goroutines)/float64(n))
	t.set(name, r, "RSS total", float64(rss1))
	log.Printf("%s, %s, round %d: RSS %s/conn, heap %s/conn, stacks %s/conn", t.title, name, r+1,
		fmtBytes(per(rss0, rss1)), fmtBytes(per(s0.HeapInuse, s1.HeapInuse)), fmtBytes(per(s0.StackInuse, s1.StackInuse)))
	return nil
}
