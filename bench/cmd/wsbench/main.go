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
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"wsdeck/bench/internal/harness"
	"wsdeck/bench/internal/server"
)

func main() {
	var cfg harness.Config
	var servers, measure, sizes, csizes, idle, profile string
	flag.StringVar(&servers, "servers", defaultServers(), "servers to compare; wsdeck is the baseline; floor and floor-epoll are references")
	flag.StringVar(&measure, "measure", "echo,compressed,idle,broadcast,micro", "measurements to run")
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
	flag.StringVar(&cfg.MicroBenchtime, "benchtime", "1s", "-benchtime of the microbenchmarks")
	flag.DurationVar(&cfg.QuietWait, "quiet-wait", 5*time.Second, "before each server's run, wait up to this long for other processes to go quiet")
	flag.StringVar(&cfg.Out, "o", "RESULTS.md", "report file")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write CPU profiles of the -profile servers' echo windows to this directory")
	flag.StringVar(&profile, "profile", "wsdeck", "servers to profile with -cpuprofile")
	flag.BoolVar(&cfg.Quick, "quick", false, "short windows and few rounds (~2 minutes), for the flags not given")
	flag.DurationVar(&cfg.Timeout, "timeout", time.Hour, "bound on the whole run")
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
	if slices.Contains(cfg.Measure, "micro") {
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "wsdeck").Output()
		if err != nil {
			log.Fatalf("finding the wsdeck module (run from bench/): %v", err)
		}
		cfg.WsdeckDir = strings.TrimSpace(string(dir))
	}
	if err := harness.Run(cfg); err != nil {
		log.Fatal(err)
	}
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
