package main

import (
	"context"
	"errors"
	"flag"

	"github.com/wsdeck/wsdeck/internal/tools/echo"
)

var echoCmd = &command{
	name:    "echo",
	args:    "[flags]",
	summary: "a WebSocket echo server for conformance suites",
	doc: `Serves ws://ADDR/, sending every message back as it came, until
interrupted. It has no authentication and no Origin check: keep it on
loopback. Autobahn|Testsuite's fuzzingclient can be pointed at it.`,
	example: `wsdeck echo --addr 127.0.0.1:9001`,
	run:     runEcho,
}

func runEcho(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var cfg echo.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:9001", "listen address (keep it on loopback: no auth, no Origin check)")
	connFlags(fs, &cfg.Conn)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errors.New("no arguments expected")
	}
	return echo.Run(ctx, cfg)
}
