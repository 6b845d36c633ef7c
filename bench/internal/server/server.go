// Package server holds one WebSocket server per library under comparison,
// each written the way that library's documentation recommends, and the
// subprocess wrapper the harness runs them in.
//
// Every server has two modes. In echo mode each message comes back on its
// connection with its type. In broadcast mode a connection to /pub is the
// publisher: each message it sends goes to every other connection (the
// subscribers), and nothing is echoed.
package server

import (
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Mode is what a server does with the messages it reads.
type Mode string

// Modes.
const (
	Echo      Mode = "echo"
	Broadcast Mode = "broadcast"
)

// PublisherPath is the request path of the publisher in broadcast mode.
const PublisherPath = "/pub"

// MaxMessageSize is the read limit every server is given, above the 1 MiB
// of the largest measured message.
const MaxMessageSize = 16 << 20

// Options configure a server.
type Options struct {
	Mode Mode
	// Compress enables permessage-deflate where the library supports it.
	Compress bool
}

// ServeFunc serves WebSocket connections on ln until it is closed.
type ServeFunc func(ln net.Listener, opts Options) error

var libraries = map[string]ServeFunc{
	"wsdeck":  serveWsdeck,
	"gorilla": serveGorilla,
	"coder":   serveCoder,
	"gobwas":  serveGobwas,
	"gws":     serveGws,

	// Variants, not in the default comparison.
	"gws-serial":     serveGwsSerial,
	"wsdeck-handler": serveWsdeckInHandler,

	// References (see floor.go); floor-epoll is added on Linux.
	"floor": serveFloor,
}

// IsReference reports whether the named server is a reference (a floor)
// rather than a library: it has no compression, and its ratio to wsdeck
// bounds what any library could reach rather than competing.
func IsReference(name string) bool { return strings.HasPrefix(name, "floor") }

// Lookup returns the server of the named library.
func Lookup(name string) (ServeFunc, error) {
	f, ok := libraries[name]
	if !ok {
		return nil, fmt.Errorf("unknown library %q (have %v)", name, Names())
	}
	return f, nil
}

// Names lists the libraries, sorted.
func Names() []string {
	var names []string
	for n := range libraries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// hub is the set of subscribers in broadcast mode.
type hub[C comparable] struct {
	mu   sync.Mutex
	subs map[C]struct{} // guarded by mu
	list []C            // guarded by mu; snapshot of subs, nil when stale
}

func (h *hub[C]) add(c C) {
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[C]struct{})
	}
	h.subs[c] = struct{}{}
	h.list = nil
	h.mu.Unlock()
}

func (h *hub[C]) remove(c C) {
	h.mu.Lock()
	delete(h.subs, c)
	h.list = nil
	h.mu.Unlock()
}

// snapshot returns the subscribers; the slice is shared and must not be
// modified.
func (h *hub[C]) snapshot() []C {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.list == nil {
		h.list = make([]C, 0, len(h.subs))
		for c := range h.subs {
			h.list = append(h.list, c)
		}
	}
	return h.list
}

// fanout calls send for every subscriber, split over GOMAXPROCS goroutines
// so that a broadcast can use every core, and returns when all are done.
// Each subscriber is written by one goroutine only.
func fanout[C any](subs []C, send func(C)) {
	n := runtime.GOMAXPROCS(0)
	if n > len(subs) {
		n = len(subs)
	}
	if n <= 1 {
		for _, c := range subs {
			send(c)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(subs) + n - 1) / n
	for i := 0; i < len(subs); i += chunk {
		part := subs[i:min(i+chunk, len(subs))]
		wg.Go(func() {
			for _, c := range part {
				send(c)
			}
		})
	}
	wg.Wait()
}
