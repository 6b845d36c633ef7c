package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/websocket"
)

// endpointLog records, for every endpoint, the sockets it served and when
// it was shut down.
type endpointLog struct {
	sockets func() int // the server's open sockets

	mu       sync.Mutex
	served   map[string]int
	shutdown []string
	open     []int // sockets open at each shutdown
}

func (l *endpointLog) wrap(name string, ep Endpoint) Endpoint {
	return loggedEndpoint{Endpoint: ep, name: name, log: l}
}

type loggedEndpoint struct {
	Endpoint
	name string
	log  *endpointLog
}

func (e loggedEndpoint) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	e.log.mu.Lock()
	e.log.served[e.name]++
	e.log.mu.Unlock()
	return e.Endpoint.ServeSocket(ctx, c, r)
}

func (e loggedEndpoint) Shutdown(ctx context.Context) error {
	open := e.log.sockets()
	e.log.mu.Lock()
	e.log.shutdown = append(e.log.shutdown, e.name)
	e.log.open = append(e.log.open, open)
	e.log.mu.Unlock()
	return e.Endpoint.Shutdown(ctx)
}

// Every endpoint is built the same way and served at /ws/NAME; shutdown
// calls each one's Shutdown once, in the order they were built (Exec
// first), while every socket is still open, and only then closes the
// sockets with 1001.
func TestEndpointsServedAndShutDownInOrder(t *testing.T) {
	t.Parallel()
	log := &endpointLog{served: map[string]int{}}
	ts := start(t, Config{Monitor: monitorOptions(20 * time.Millisecond), wrapEndpoint: log.wrap})
	log.sockets = ts.sockets.count

	var names []string
	for _, r := range ts.endpoints {
		names = append(names, r.name)
	}
	if want := []string{"exec", "shell", "chat", "monitor", "fleet"}; !slices.Equal(names, want) {
		t.Fatalf("endpoints %v, want %v", names, want)
	}
	var conns []*websocket.Conn
	for _, name := range names {
		c := ts.mustDial(t, "/ws/"+name)
		readMsg(t, c) // served for sure
		conns = append(conns, c)
	}
	log.mu.Lock()
	for _, name := range names {
		if log.served[name] != 1 {
			t.Errorf("%s served %d sockets, want 1", name, log.served[name])
		}
	}
	log.mu.Unlock()

	codes := make(chan websocket.StatusCode, len(conns))
	for _, c := range conns {
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					codes <- websocket.CloseStatus(err)
					return
				}
			}
		}()
	}
	ts.cancel()
	if err := <-ts.done; err != nil {
		t.Fatal(err)
	}
	ts.done <- nil // for the cleanup
	log.mu.Lock()
	defer log.mu.Unlock()
	if !slices.Equal(log.shutdown, names) {
		t.Errorf("shut down %v, want %v", log.shutdown, names)
	}
	for i, n := range log.open {
		if n != len(conns) {
			t.Errorf("%s shut down with %d sockets open, want all %d", log.shutdown[i], n, len(conns))
		}
	}
	for range conns {
		if code := <-codes; code != websocket.StatusGoingAway {
			t.Errorf("a socket closed with %v, want 1001", code)
		}
	}
}

// A console that fails to start after New built its endpoints (Run's
// login URL cannot be written) shuts them down, in order, before Run
// returns.
func TestEndpointsShutDownWhenNotServed(t *testing.T) {
	t.Parallel()
	log := &endpointLog{served: map[string]int{}, sockets: func() int { return 0 }}
	err := Run(t.Context(), Config{
		Addr: "127.0.0.1:0", Token: testToken, URLFile: filepath.Join(t.TempDir(), "no", "such", "dir", "url"),
		Engine: engine.Config{StateDir: t.TempDir()}, Out: io.Discard,
		Logger: slog.New(slog.DiscardHandler), wrapEndpoint: log.wrap,
	})
	if err == nil {
		t.Fatal("Run wrote the login URL into a directory that does not exist")
	}
	if want := []string{"exec", "shell", "chat", "monitor", "fleet"}; !slices.Equal(log.shutdown, want) {
		t.Errorf("shut down %v, want %v", log.shutdown, want)
	}
}
