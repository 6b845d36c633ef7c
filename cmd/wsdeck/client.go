package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"

	"github.com/wsdeck/wsdeck/internal/tools/wscat"
	"github.com/wsdeck/wsdeck/websocket"
)

var clientCmd = &command{
	name:    "client",
	args:    "[flags] URL",
	summary: "a wscat-like WebSocket client (ws://, wss://)",
	doc: `Connects to URL; lines from stdin go out as text messages and received
messages are printed one a line. With --echo it sends every message back
until the server closes, as client conformance suites expect. The exit
status is 1 unless the connection ends with a clean close (1000, 1001, or
no status code: 1005).`,
	example: `echo hello | wsdeck client ws://127.0.0.1:9001/
wsdeck client --echo -H 'Origin: http://example.com' ws://127.0.0.1:9001/`,
	run: runClient,
}

func runClient(ctx context.Context, fs *flag.FlagSet, args []string) error {
	cfg := wscat.Config{Header: http.Header{}}
	fs.BoolVar(&cfg.Echo, "echo", false, "send every received message back until the server closes")
	fs.Func("H", "request header `Name: value` (repeatable)", func(v string) error {
		name, value, ok := strings.Cut(v, ":")
		if !ok {
			return fmt.Errorf("header %q: want Name: value", v)
		}
		cfg.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		return nil
	})
	fs.Func("subprotocol", "subprotocol to offer (repeatable)", func(v string) error {
		cfg.Subprotocols = append(cfg.Subprotocols, v)
		return nil
	})
	fs.StringVar(&cfg.CAFile, "ca", "", "PEM `file` of CA certificates for wss://")
	fs.DurationVar(&cfg.HandshakeTimeout, "timeout", websocket.DefaultHandshakeTimeout, "handshake timeout")
	connFlags(fs, &cfg.Conn)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("one URL expected")
	}
	cfg.URL = fs.Arg(0)
	return wscat.Run(ctx, cfg)
}

// connFlags registers the connection limits shared by the subcommands.
func connFlags(fs *flag.FlagSet, o *websocket.ConnOptions) {
	fs.Int64Var(&o.MaxMessageSize, "max-message-size", websocket.DefaultMaxMessageSize, "largest message accepted, in bytes (-1: no limit)")
	fs.IntVar(&o.MaxMessageFrames, "max-message-frames", websocket.DefaultMaxMessageFrames, "most frames in one message (-1: no limit)")
	fs.DurationVar(&o.CloseTimeout, "close-timeout", websocket.DefaultCloseTimeout, "how long to wait for the peer's close frame")
	fs.DurationVar(&o.PingInterval, "ping-interval", 0, "ping the peer at this interval and drop it if it stops answering (0: off)")
}
