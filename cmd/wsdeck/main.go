// Command wsdeck serves a web operations console and runs WebSocket and SSH
// tools from the command line. wsdeck help lists its commands; see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// The console serves its sockets over HTTP/2 too (RFC 8441), which
	// Go 1.26's net/http allows only with GODEBUG=http2xconnect=1; this
	// sets it for the program, as no //go:debug line can.
	_ "github.com/wsdeck/wsdeck/websocket/xconnect"
)

// commands are wsdeck's subcommands, in the order wsdeck help lists them.
// To add one, declare a *command beside its run function (as exec.go does)
// and list it here: its help is generated from it, and TestCLI checks that
// help for every listed command.
var commands = []*command{
	serveCmd,
	execCmd,
	auditCmd,
	userCmd,
	recordingCmd,
	clientCmd,
	echoCmd,
	versionCmd,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
