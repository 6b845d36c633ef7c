// Command wsdeck is a WebSocket console and toolkit. See README.md.
//
//	wsdeck serve  [flags]                     the console (also wsdeck with no arguments)
//	wsdeck echo   [--addr 127.0.0.1:9001]     an echo server for conformance suites
//	wsdeck client [flags] URL                 a wscat-like client
//	wsdeck exec   [flags] HOSTS -- COMMAND    a command on many hosts over SSH
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

var commands = map[string]func(ctx context.Context, args []string) error{
	"echo":   runEcho,
	"client": runClient,
	"serve":  runServe,
	"exec":   runExec,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") && os.Args[1] != "-h" && os.Args[1] != "--help" {
		// No command: the console, with any flags given.
		os.Args = append([]string{os.Args[0], "serve"}, os.Args[1:]...)
	}
	if commands[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: wsdeck serve|echo|client|exec [flags] (wsdeck CMD -h for flags)")
		os.Exit(2)
	}
	if err := commands[os.Args[1]](ctx, os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "wsdeck:", err)
		os.Exit(1)
	}
}
