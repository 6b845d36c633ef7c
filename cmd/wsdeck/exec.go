package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/tools/execcli"
)

var execCmd = &command{
	name:    "exec",
	args:    "[flags] HOSTS [flags] -- COMMAND...",
	summary: "run a command on many hosts over SSH",
	doc: `Runs COMMAND on every host of HOSTS over SSH (the host local: here, without
SSH), prints each output line as "host: line", then a summary on stderr.
The exit status is 1 when any host failed; Ctrl-C stops every command.

HOSTS is a host expression, its terms separated by commas or white space:
127.0.0.1-100, 10.0.0.1-10.0.1.20, 192.168.1.0/28, web[01-20,25].example.com,
root@db1:2222, [::1]:22, local (this machine, no SSH), !TERM to leave out.

SSH uses ssh-agent, ~/.ssh/id_* (and --identity), ~/.ssh/config, and checks
host keys against ~/.ssh/known_hosts (--accept-new records unknown ones).`,
	example: `wsdeck exec local -- uname -a
wsdeck exec --accept-new 'web[01-20].example.com !web07.example.com' -- uptime
wsdeck exec --gather --timeout 30s 10.0.0.0/28 -- df -h /`,
	run: runExec,
}

func runExec(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var cfg execcli.Config
	fs.StringVar(&cfg.Exclude, "x", "", "leave out these hosts (a host expression)")
	fs.IntVar(&cfg.MaxHosts, "max-hosts", hostexpr.DefaultMaxHosts, "refuse expressions naming more hosts")
	sshFlags(fs, &cfg.Job)
	fs.BoolVar(&cfg.Gather, "gather", false, "print identical outputs once, under the hosts that gave them (dshbak -c)")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per host")
	fs.StringVar(&cfg.Color, "color", "auto", "color host names: auto, always, never")

	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("no hosts")
	}
	cfg.Hosts, rest = rest[0], rest[1:]
	// Flags may also follow HOSTS, up to "--".
	if i := slices.Index(rest, "--"); i >= 0 {
		if err := fs.Parse(rest[:i]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fs.Usage()
			return fmt.Errorf("%q before --: put the command after --", fs.Arg(0))
		}
		rest = rest[i+1:]
	}
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("no command: put it after --")
	}
	cfg.Command = strings.Join(rest, " ")
	return execcli.Run(ctx, cfg)
}
