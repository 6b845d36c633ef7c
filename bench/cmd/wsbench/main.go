// Command wsbench measures wsdeck's WebSocket server against gorilla,
// coder, gobwas and gws side by side, and writes RESULTS.md. See
// ../../README.md for the method.
//
//	cd bench && go run ./cmd/wsbench          # everything, ~13 minutes
//	cd bench && go run ./cmd/wsbench -quick   # ~2 minutes, provisional
//
// With -serve it is instead one of the servers, which the harness runs as
// its subprocesses.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/harness"
	"github.com/wsdeck/wsdeck/bench/internal/server"
)

func main() {
	var cfg harness.Config
	var servers, measure, sizes, csizes, idle, profile string
	flag.StringVar(&servers, "servers", defaultServers(), "servers to compare; wsdeck is the baseline; floor and floor-epoll are references")
	flag.StringVar(&measure, "measure", "echo,compressed,idle,broadcast,micro", "measurements to run (fanout, not in the default, runs wsdeck's chat beside Centrifugo: -fanout-* flags; terminal, alone, wsdeck's Shell beside WeTTY: -terminal-* flags; idle-browser, alone, wsdeck's idle memory with Chromium as the client: -browser-* flags)")
	flag.StringVar(&sizes, "sizes", "64,1024,16384,1048576", "echo payload sizes in bytes")
	flag.StringVar(&csizes, "compressed-sizes", "", "payload sizes of the compressed rows (default: -sizes)")
	flag.IntVar(&cfg.Conns, "conns", 1000, "echo connections (fewer for large payloads, to keep 64 MiB in flight)")
	flag.DurationVar(&cfg.Warmup, "warmup", time.Second, "echo warm-up before each measured window")
	flag.DurationVar(&cfg.Duration, "duration", 3*time.Second, "echo measured window")
	flag.IntVar(&cfg.Rounds, "rounds", 3, "rounds; the servers alternate within each")
	flag.StringVar(&idle, "idle", "10000,50000", "idle connection counts")
	flag.IntVar(&cfg.IdleRounds, "idle-rounds", 2, "rounds of the idle memory measurement")
	flag.IntVar(&cfg.BroadcastSubs, "subs", 10000, "broadcast subscribers")
	flag.IntVar(&cfg.BroadcastRounds, "broadcasts", 100, "broadcast messages timed per server per round")
	flag.IntVar(&cfg.BroadcastSize, "broadcast-size", 64, "broadcast payload bytes")
	var fanoutLoads, fanoutNodes string
	flag.StringVar(&fanoutLoads, "fanout-loads", "1000x100,3000x30,10000x8", "chat fan-out loads, SUBSCRIBERSxMESSAGES/S, comma-separated (the default: the loads of RESULTS.md, each under the 100,000 deliveries a second a 2-core machine carries; 10000x8 is the issue's room)")
	flag.StringVar(&fanoutNodes, "fanout-nodes", "1,3", "chat fan-out node counts: 1 (memory or embedded engine), 3 (on a NATS cluster of 3)")
	flag.IntVar(&cfg.Fanout.Pubs, "fanout-pubs", 10, "chat fan-out publishers, sharing the rate")
	flag.DurationVar(&cfg.Fanout.Duration, "fanout-duration", 10*time.Second, "chat fan-out measured sending time")
	flag.IntVar(&cfg.Fanout.Warmup, "fanout-warmup", 20, "chat fan-out untimed messages first, which must reach every subscriber")
	flag.DurationVar(&cfg.Fanout.Setup, "fanout-setup", 5*time.Minute, "bound on joining the subscribers and the warm-up")
	flag.IntVar(&cfg.Fanout.Rounds, "fanout-rounds", 2, "chat fan-out rounds")
	flag.StringVar(&cfg.Fanout.Bins.Wsdeck, "wsdeck-bin", "", "wsdeck binary for the fan-out (default: built from the repository)")
	flag.StringVar(&cfg.Fanout.Bins.Centrifugo, "centrifugo-bin", "", "Centrifugo binary (default: built from the version bench/go.mod pins)")
	flag.StringVar(&cfg.Fanout.Bins.NATSServer, "nats-server", "", "nats-server binary (default: $WSDECK_NATS_SERVER, PATH, $(go env GOPATH)/bin)")
	flag.StringVar(&cfg.MicroBenchtime, "benchtime", "1s", "-benchtime of the microbenchmarks")
	flag.DurationVar(&cfg.QuietWait, "quiet-wait", 5*time.Second, "before each server's run, wait up to this long for other processes to go quiet")
	flag.StringVar(&cfg.Out, "o", "RESULTS.md", "report file")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write CPU profiles of the -profile servers' echo windows to this directory")
	flag.StringVar(&profile, "profile", "wsdeck", "servers to profile with -cpuprofile")
	flag.BoolVar(&cfg.Quick, "quick", false, "short windows and few rounds (~2 minutes), for the flags not given")
	flag.DurationVar(&cfg.Timeout, "timeout", time.Hour, "bound on the whole run")
	var term harness.TerminalConfig
	flag.IntVar(&term.Keystrokes, "terminal-keystrokes", 500, "terminal: keystrokes timed per round")
	flag.Int64Var(&term.CatBytes, "terminal-cat-bytes", 64<<20, "terminal: size of the file cat prints")
	flag.IntVar(&term.Rounds, "terminal-rounds", 3, "terminal: rounds, the servers alternating")
	wettyJS := flag.String("wetty", "", "terminal: WeTTY's build/main.js (default $WSDECK_WETTY, else the WeTTY bench/wetty pins, installed with npm into -wetty-cache)")
	wettyCache := flag.String("wetty-cache", defaultWettyCache(), "terminal: the directory the pinned WeTTY is installed into (once per lock file)")
	var ib harness.IdleBrowserConfig
	flag.StringVar(&ib.Chromium, "chromium", "/usr/bin/chromium", "idle-browser: the Chromium binary (the measurement is skipped when it is absent)")
	flag.IntVar(&ib.Conns, "browser-conns", 1000, "idle-browser: sockets from Chromium per server setting")
	flag.IntVar(&ib.PerContext, "browser-per-context", 250, "idle-browser: sockets per browser context (Chromium's WebSocket pool holds at most 255 per host in a context)")
	flag.IntVar(&ib.Rounds, "browser-rounds", 2, "idle-browser: rounds, the settings alternating")
	flag.StringVar(&ib.HeapDir, "browser-heap-profiles", "", "idle-browser: write a heap profile of each idle server to this directory")
	browserSizes := flag.String("browser-sizes", "32,1024", "idle-browser: the one message each socket sends, in bytes (a table per size; 128 B and above, the server's replies are compressed too)")
	serve := flag.String("serve", "", "run as this library's server (the harness's subprocess)")
	mode := flag.String("mode", "echo", "with -serve: echo or broadcast")
	compress := flag.Bool("compress", false, "with -serve: enable permessage-deflate")
	addr := flag.String("addr", "127.0.0.1:0", "with -serve: listen address")
	flag.Parse()

	if *serve != "" {
		opts := server.Options{Mode: server.Mode(*mode), Compress: *compress}
		if err := server.Run(*serve, *addr, opts, os.Stdin, os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}

	cfg.Args = os.Args[1:]
	if measure == "terminal" { // its own run and report: wsdeck's Shell beside WeTTY
		term.Args = cfg.Args
		term.Out = harness.TerminalResults
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "o" {
				term.Out = cfg.Out
			}
		})
		if err := runTerminal(term, cfg.Fanout.Bins.Wsdeck, *wettyJS, *wettyCache); err != nil {
			log.Fatal(err)
		}
		return
	}
	if measure == "idle-browser" { // its own run, written to stdout (and -o if given): wsdeck's idle memory with Chromium as the client
		ib.Args, ib.QuietWait, ib.Timeout, ib.Sizes = cfg.Args, cfg.QuietWait, cfg.Timeout, ints(*browserSizes)
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "o" {
				ib.Out = cfg.Out
			}
		})
		err := harness.RunIdleBrowser(ib, os.Stdout)
		if errors.Is(err, harness.ErrNoChromium) {
			log.Printf("idle-browser skipped: %v", err)
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		return
	}
	cfg.Servers, cfg.Measure, cfg.Profile = list(servers), list(measure), list(profile)
	cfg.Sizes, cfg.IdleConns = ints(sizes), ints(idle)
	if csizes == "" {
		csizes = sizes
		if cfg.Quick {
			csizes = "1024,16384"
		}
	}
	cfg.CompressedSizes = ints(csizes)
	if cfg.Quick {
		// Quick defaults, for the flags not given.
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		quick := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		quick("warmup", func() { cfg.Warmup = 150 * time.Millisecond })
		quick("duration", func() { cfg.Duration = 500 * time.Millisecond })
		quick("rounds", func() { cfg.Rounds = 2 })
		quick("idle", func() { cfg.IdleConns = []int{10000} })
		quick("idle-rounds", func() { cfg.IdleRounds = 1 })
		quick("broadcasts", func() { cfg.BroadcastRounds = 20 })
		quick("benchtime", func() { cfg.MicroBenchtime = "100ms" })
		quick("quiet-wait", func() { cfg.QuietWait = 0 })
		quick("timeout", func() { cfg.Timeout = 10 * time.Minute })
	}
	if slices.Contains(cfg.Measure, "fanout") {
		if err := fanoutSetup(&cfg, fanoutLoads, fanoutNodes); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(cfg.Fanout.Dir)
		set := false
		flag.Visit(func(f *flag.Flag) { set = set || f.Name == "o" })
		if len(cfg.Measure) == 1 && !set {
			cfg.Out = harness.FanoutResults // appended to RESULTS.md by every full run
		}
	}
	if slices.Contains(cfg.Measure, "micro") {
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/wsdeck/wsdeck").Output()
		if err != nil {
			log.Fatalf("finding the wsdeck module (run from bench/): %v", err)
		}
		cfg.WsdeckDir = strings.TrimSpace(string(dir))
	}
	if err := harness.Run(cfg); err != nil {
		os.RemoveAll(cfg.Fanout.Dir)
		log.Fatal(err)
	}
}

// fanoutSetup reads the fan-out flags and finds or builds the programs it
// runs, into a scratch directory.
func fanoutSetup(cfg *harness.Config, loads, nodes string) error {
	var err error
	if cfg.Fanout.Loads, err = harness.ParseFanoutLoads(loads); err != nil {
		return err
	}
	cfg.Fanout.Nodes = ints(nodes)
	if cfg.Fanout.Dir, err = os.MkdirTemp("", "wsbench-fanout-"); err != nil {
		return err
	}
	b := &cfg.Fanout.Bins
	if b.Wsdeck == "" {
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/wsdeck/wsdeck").Output()
		if err != nil {
			return fmt.Errorf("finding the wsdeck module (run from bench/): %w", err)
		}
		b.Wsdeck = filepath.Join(cfg.Fanout.Dir, "wsdeck")
		log.Printf("building wsdeck")
		if err := harness.BuildWsdeck(strings.TrimSpace(string(dir)), b.Wsdeck); err != nil {
			return err
		}
	}
	if b.Centrifugo == "" {
		b.Centrifugo = filepath.Join(cfg.Fanout.Dir, "centrifugo")
		log.Printf("building centrifugo (minutes, the first time)")
		if err := harness.BuildCentrifugo(b.Centrifugo); err != nil {
			return err
		}
	}
	if b.NATSServer == "" && slices.ContainsFunc(cfg.Fanout.Nodes, func(n int) bool { return n > 1 }) {
		if b.NATSServer, err = harness.FindNATSServer(); err != nil {
			log.Printf("the several-node setups are skipped: %v", err)
		}
	}
	return nil
}

func list(s string) []string {
	var l []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			l = append(l, f)
		}
	}
	return l
}

func ints(s string) []int {
	var l []int
	for _, f := range list(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			log.Fatal(fmt.Errorf("not a number: %q", f))
		}
		l = append(l, n)
	}
	return l
}

// defaultServers is every library, and the floors this system has.
func defaultServers() string {
	s := []string{"wsdeck", "gws", "gorilla", "coder", "gobwas", "floor"}
	if _, err := server.Lookup("floor-epoll"); err == nil {
		s = append(s, "floor-epoll")
	}
	return strings.Join(s, ",")
}
