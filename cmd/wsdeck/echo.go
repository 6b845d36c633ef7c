package main

import (
	"context"
	"flag"

	"wsdeck/internal/echo"
)

func runEcho(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	var cfg echo.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:9001", "listen address (keep it on loopback: no auth, no Origin check)")
	connFlags(fs, &cfg.Conn)
	fs.Parse(args)
	return echo.Run(ctx, cfg)
}
