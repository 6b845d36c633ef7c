// Package enginetest runs a standalone NATS server with JetStream for
// tests of code that uses the engine in external mode, so that only the
// engine's packages import NATS.
package enginetest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// Server is a NATS server with JetStream on loopback, as an external
// deployment would run it.
type Server struct {
	dir  string
	port int
	srv  *server.Server
}

// Start starts a server keeping its files in dir, on a port of its own;
// the test's end stops it.
func Start(t testing.TB, dir string) *Server {
	t.Helper()
	s := &Server{dir: dir}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	port := s.port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "external",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   s.dir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats-server not ready")
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

// URL returns the server's client URL, nats://127.0.0.1:PORT.
func (s *Server) URL() string { return s.srv.ClientURL() }

// Stop stops the server and waits until it has; stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// Restart starts the server again on the same port and files, after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.start(t)
}

// Embedded opens an embedded engine (the console's default) on a state
// dir of the test's own; the test's end shuts it down.
func Embedded(t testing.TB) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := engine.Open(ctx, engine.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	return e
}
