package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"wsdeck/internal/execcli"
	"wsdeck/internal/hostexpr"
)

func runExec(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("exec", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: wsdeck exec [flags] HOSTS [flags] -- COMMAND...

Runs COMMAND on every host of HOSTS over SSH (the host local: here, without
SSH), prints each output line as "host: line", then a summary. HOSTS is a
host expression: 127.0.0.1-100, 10.0.0.1-10.0.1.20, 192.168.1.0/28,
web[01-20,25].example.com, root@db1:2222, [::1]:22, local, !EXCLUDED, joined
by commas. The exit status is 1 when any host failed.`)
		fs.PrintDefaults()
	}
	var cfg execcli.Config
	fs.StringVar(&cfg.Exclude, "x", "", "leave out these hosts (a host expression)")
	fs.IntVar(&cfg.MaxHosts, "max-hosts", hostexpr.DefaultMaxHosts, "refuse expressions naming more hosts")
	sshFlags(fs, &cfg.Job)
	fs.BoolVar(&cfg.Gather, "gather", false, "print identical outputs once, under the hosts that gave them (dshbak -c)")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per host")
	fs.StringVar(&cfg.Color, "color", "auto", "color host names: auto, always, never")

	fs.Parse(args)
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return fmt.Errorf("exec: no hosts")
	}
	cfg.Hosts, rest = rest[0], rest[1:]
	// Flags may also follow HOSTS, up to "--".
	if i := slices.Index(rest, "--"); i >= 0 {
		fs.Parse(rest[:i])
		if fs.NArg() > 0 {
			return fmt.Errorf("exec: %q before --: put the command after --", fs.Arg(0))
		}
		rest = rest[i+1:]
	}
	cfg.Command = strings.Join(rest, " ")
	return execcli.Run(ctx, cfg)
}
