package harness

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/load"
)

// FanoutLoad is one load of the fan-out run: subscribers in one room and
// the publishers' total rate.
type FanoutLoad struct {
	Subs int
	Rate float64 // messages per second
}

// ParseFanoutLoads reads loads written SUBSxRATE, comma-separated:
// "10000x100,1000x1000".
func ParseFanoutLoads(s string) ([]FanoutLoad, error) {
	var loads []FanoutLoad
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		subs, rate, ok := strings.Cut(f, "x")
		n, err1 := strconv.Atoi(subs)
		r, err2 := strconv.ParseFloat(rate, 64)
		if !ok || err1 != nil || err2 != nil || n <= 0 || r <= 0 {
			return nil, fmt.Errorf("fan-out load %q: want SUBSxRATE, as 10000x100", f)
		}
		loads = append(loads, FanoutLoad{Subs: n, Rate: r})
	}
	return loads, nil
}

// FanoutConfig is the fan-out run's part of Config.
type FanoutConfig struct {
	Loads    []FanoutLoad
	Nodes    []int         // node counts to run: 1 (memory or embedded engine), 3 (on NATS)
	Pubs     int           // publishers, spread over the nodes
	Duration time.Duration // measured sending time; the messages are Rate × Duration
	Warmup   int           // untimed messages first, which must reach everyone
	Setup    time.Duration // bound on joining and the warm-up
	Rounds   int
	Bins     Binaries
	Dir      string // scratch directory for the servers' files ("" : a temporary one)
}

var fanoutMetrics = []metric{
	{name: "p50", format: fmtDur, ratio: true},
	{name: "p99", format: fmtDur, ratio: true},
	{name: "server CPU/delivery", format: fmtDur, ratio: true},
	{name: "server cores", format: fmtFloat},
	{name: "engine CPU/delivery", format: fmtDur},
	{name: "engine msgs/message", format: fmtFloat},
	{name: "deliveries/s", format: fmtCount},
	{name: "delivered", format: fmtPercent},
	{name: "send lag", format: fmtDur},
	{name: "setup", format: fmtDur},
	{name: "join retries", format: fmtCount},
	{name: "client cores", format: fmtFloat},
	{name: "other cores", format: fmtFloat},
}

func fmtPercent(v float64) string { return fmt.Sprintf("%.2f %%", 100*v) }

// fanoutServers are the chat servers compared: wsdeck first, the baseline.
var fanoutServers = []string{"wsdeck", "centrifugo"}

// runFanout runs the chat fan-out: for each load and node count, wsdeck
// and Centrifugo on the same load, alternating round by round.
func runFanout(ctx context.Context, cfg Config, rep *report) error {
	const section = "Chat fan-out: wsdeck beside Centrifugo"
	fc := cfg.Fanout
	if fc.Dir == "" {
		dir, err := os.MkdirTemp("", "wsbench-fanout-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fc.Dir = dir
	}
	type key struct {
		l     FanoutLoad
		nodes int
	}
	tables := map[key]*table{}
	var keys []key
	for _, l := range fc.Loads {
		for _, n := range fc.Nodes {
			k := key{l, n}
			how := "1 node (wsdeck: embedded engine; Centrifugo: memory engine)"
			if n > 1 {
				how = fmt.Sprintf("%d nodes on a cluster of %d nats-servers (wsdeck: --nats; Centrifugo: NATS broker)", n, n)
			}
			t := newTable(fmt.Sprintf("Fan-out, %s: %d subscribers, %d publishers at %g msg/s in all",
				how, l.Subs, fc.Pubs, l.Rate), fanoutServers, fc.Rounds, fanoutMetrics...)
			t.note = fanoutNote
			tables[k], keys = t, append(keys, k)
		}
	}
	for r := range fc.Rounds {
		for _, k := range keys {
			for _, s := range order(fanoutServers, r) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if k.nodes > 1 && fc.Bins.NATSServer == "" {
					tables[k].fail(s, r, fmt.Errorf("skipped: no nats-server"))
					continue
				}
				waitQuiet(ctx, cfg.QuietWait)
				dir, err := os.MkdirTemp(fc.Dir, fmt.Sprintf("%s-%d-", s, k.nodes))
				if err != nil {
					return err
				}
				if err := fanoutOnce(ctx, fc, tables[k], chatKind{server: s, nodes: k.nodes}, k.l, r, dir); err != nil {
					tables[k].fail(s, r, err)
					log.Printf("%s, %s: %v", tables[k].title, s, err)
				}
				os.RemoveAll(dir)
			}
		}
	}
	for _, k := range keys {
		rep.add(section, tables[k])
	}
	return nil
}

const fanoutNote = "Latency: from a message's scheduled send (publishers send on a fixed schedule and stamp the message with it) " +
	"to a subscriber's read of it, over every delivery of the measured messages; p50 and p99, median over rounds. " +
	"\"server CPU/delivery\": the CPU time of every server process (the chat nodes and the nats-servers) in the window, " +
	"divided by the deliveries to subscribers; \"server cores\" the same time over the window. " +
	"\"engine CPU/delivery\": the nats-servers' part of it (3 nodes only: one wsdeck node's engine runs in its process); " +
	"\"engine msgs/message\": the messages the nats-servers took in (their in_msgs, from clients and routes) in the window, per message published. " +
	"\"delivered\": deliveries ÷ (messages × subscribers) within the window plus a drain of 10 s. " +
	"\"send lag\": how late the last message left its publisher (above a few ms, the publishers could not keep the rate). " +
	"\"setup\": joining every subscriber and the warm-up (every warm-up message reaching everyone); " +
	"\"join retries\": joins the server refused as passing (wsdeck's \"unavailable\": its engine did not answer in time), made again as a page does. " +
	"The load generator runs on the same cores (\"client cores\")."

// fanoutOnce runs one server setup on one load.
func fanoutOnce(ctx context.Context, fc FanoutConfig, t *table, k chatKind, l FanoutLoad, r int, dir string) error {
	s, err := startChat(ctx, k, fc.Bins, dir, l.Subs+fc.Pubs)
	if err != nil {
		return err
	}
	defer s.stop()
	res, err := runFanoutLoad(ctx, fc, s, l)
	if err != nil {
		return err
	}
	w := res.window
	deliveries := float64(res.Deliveries)
	if deliveries > 0 {
		t.set(k.server, r, "p50", res.Latency.Quantile(0.50).Seconds())
		t.set(k.server, r, "p99", res.Latency.Quantile(0.99).Seconds())
		t.set(k.server, r, "server CPU/delivery", w.server.Seconds()/deliveries)
		t.set(k.server, r, "deliveries/s", deliveries/w.elapsed.Seconds())
		if s.engines > 0 {
			t.set(k.server, r, "engine CPU/delivery", res.engineCPU.Seconds()/deliveries)
			t.set(k.server, r, "engine msgs/message", float64(res.engineMsgs)/float64(res.messages))
		}
	}
	t.set(k.server, r, "server cores", w.cores(w.server))
	t.set(k.server, r, "delivered", deliveries/float64(res.Expected))
	t.set(k.server, r, "send lag", res.SendLag.Seconds())
	t.set(k.server, r, "setup", res.Setup.Seconds())
	t.set(k.server, r, "join retries", float64(res.JoinRetries))
	t.set(k.server, r, "client cores", w.cores(w.client))
	t.set(k.server, r, "other cores", w.cores(w.others))
	log.Printf("%s, %s, round %d: p50 %s, p99 %s, CPU/delivery %s, delivered %d of %d, setup %s", t.title, k.server, r+1,
		res.Latency.Quantile(0.5), res.Latency.Quantile(0.99),
		time.Duration(float64(w.server)/max(deliveries, 1)), res.Deliveries, res.Expected, res.Setup.Round(time.Millisecond))
	return nil
}

type fanoutResult struct {
	*load.FanoutResult
	window     *window
	messages   int           // published in the window
	engineCPU  time.Duration // the nats-servers' CPU in the window
	engineMsgs int64         // the nats-servers' in_msgs in the window
}

// runFanoutLoad drives setup s with load l.
func runFanoutLoad(ctx context.Context, fc FanoutConfig, s *chatSetup, l FanoutLoad) (*fanoutResult, error) {
	w := &window{cpu: s.cpu}
	msgs := max(1, int(l.Rate*fc.Duration.Seconds()))
	var e0, e1 time.Duration
	var m0, m1 int64
	res, err := load.Fanout(ctx, load.FanoutConfig{
		Addrs: s.addrs, Proto: s.proto, Subs: l.Subs, Pubs: fc.Pubs, Rate: l.Rate,
		Warmup: fc.Warmup, Messages: msgs, Setup: fc.Setup, Drain: 10 * time.Second,
		Window: func(open bool) {
			w.sample(open)
			if s.engines == 0 {
				return
			}
			e, _ := s.engineCPU()
			m, _ := s.engineMsgs()
			if open {
				e0, m0 = e, m
			} else {
				e1, m1 = e, m
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &fanoutResult{FanoutResult: res, window: w, messages: msgs, engineCPU: e1 - e0, engineMsgs: m1 - m0}, nil
}
