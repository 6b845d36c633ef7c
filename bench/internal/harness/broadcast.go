package harness

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/load"
	"github.com/wsdeck/wsdeck/bench/internal/server"
)

var broadcastMetrics = []metric{
	{name: "p50 to last", format: fmtDur, ratio: true},
	{name: "p99 to last", format: fmtDur, ratio: true},
	{name: "server CPU/msg", format: fmtDur, ratio: true},
	{name: "client cores", format: fmtFloat},
	{name: "other cores", format: fmtFloat},
	{name: "kernel drops", format: fmtCount},
	{name: "messages", format: fmtCount},
	{name: "missed", format: fmtCount},
}

// broadcastBudget bounds the measured messages of one server's run: fewer
// than asked for are timed when they are slow.
const broadcastBudget = 30 * time.Second

// runBroadcast times one message's fan-out to every subscriber.
func runBroadcast(ctx context.Context, cfg Config, rep *report) error {
	const section = "Broadcast"
	t := newTable(fmt.Sprintf("%s: one %s message to %d subscribers, %d messages per server per round",
		section, sizeName(cfg.BroadcastSize), cfg.BroadcastSubs, cfg.BroadcastRounds), cfg.Servers, cfg.Rounds, broadcastMetrics...)
	t.note = "Time from the publisher's write to the last subscriber's read of the whole message; " +
		"p50 and p99 over the messages of a round, then the median over rounds. " +
		"\"messages\" is the number timed (fewer than asked for if they took over 30 s in all); " +
		"\"missed\" counts messages that some subscriber had not got within 10 s. " +
		"\"kernel drops\" counts packets the kernel dropped in the window (/proc/net/softnet_stat, the whole machine): " +
		"a burst of 10 000 writes can overflow the loopback input queue (net.core.netdev_max_backlog), " +
		"and a dropped packet waits for a TCP retransmission timeout, which shows in p99; " +
		"on a dedicated machine, raise that sysctl."
	for r := range cfg.Rounds {
		for _, s := range order(cfg.Servers, r) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			waitQuiet(ctx, cfg.QuietWait)
			if err := broadcastOnce(ctx, cfg, t, s, r); err != nil {
				t.fail(s, r, err)
				log.Printf("%s, %s: %v", t.title, s, err)
			}
		}
	}
	rep.add(section, t)
	return nil
}

func broadcastOnce(ctx context.Context, cfg Config, t *table, name string, r int) error {
	p, err := startServer(name, server.Options{Mode: server.Broadcast})
	if err != nil {
		return err
	}
	defer p.stop()
	w := &window{p: p}
	profile := profilePath(cfg, name, fmt.Sprintf("broadcast-%d-r%d", cfg.BroadcastSubs, r+1))
	var profErr error
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := load.Broadcast(ctx, load.BroadcastConfig{
		Addr: p.addr, Subs: cfg.BroadcastSubs, Rounds: cfg.BroadcastRounds, Size: cfg.BroadcastSize,
		Gap: 10 * time.Millisecond, RoundTimeout: 10 * time.Second, MaxDuration: broadcastBudget,
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
	if err != nil {
		return fmt.Errorf("%w%s", err, p.stderr.String())
	}
	if profErr != nil {
		log.Printf("profiling %s: %v", name, profErr)
	}
	t.set(name, r, "p50 to last", res.Last.Quantile(0.50).Seconds())
	t.set(name, r, "p99 to last", res.Last.Quantile(0.99).Seconds())
	t.set(name, r, "server CPU/msg", w.server.Seconds()/float64(res.Rounds))
	t.set(name, r, "messages", float64(res.Rounds))
	t.set(name, r, "kernel drops", float64(w.drops))
	t.set(name, r, "client cores", w.cores(w.client))
	t.set(name, r, "other cores", w.cores(w.others))
	t.set(name, r, "missed", float64(res.Missed))
	log.Printf("%s, %s, round %d: p50 %s, p99 %s, missed %d", t.title, name, r+1,
		res.Last.Quantile(0.5), res.Last.Quantile(0.99), res.Missed)
	return nil
}
