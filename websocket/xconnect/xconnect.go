// Package xconnect, imported for its side effect, lets net/http's HTTP/2
// server take WebSockets (RFC 8441 extended CONNECT) without
// GODEBUG=http2xconnect=1 in the program's environment:
//
//	import _ "github.com/wsdeck/wsdeck/websocket/xconnect"
//
// in package main (or any package of the program) does what that setting
// does.
//
// Go 1.26's net/http reads the setting from the GODEBUG environment
// variable once, in its package initializer, and advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL only if it was there. A //go:debug line
// or go.mod's godebug block cannot set it (the toolchain knows no such
// setting, and net/http does not read the program's defaults). This
// package adds http2xconnect=1 to GODEBUG in its own initializer, which
// runs before net/http's: it imports nothing that imports net/http, and
// the language initializes, at each step, the first package in
// import-path order whose imports are initialized (Go 1.21 and later), and
// "github.com/..." sorts before "net/http".
//
// Child processes inherit the setting, as they would from the environment.
package xconnect

import (
	"os"
	"strings"
)

func init() {
	g := os.Getenv("GODEBUG")
	if strings.Contains(g, "http2xconnect=") {
		return // the environment decides
	}
	if g != "" {
		g += ","
	}
	os.Setenv("GODEBUG", g+"http2xconnect=1")
}
