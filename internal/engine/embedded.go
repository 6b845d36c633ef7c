package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsdeck/wsdeck/internal/lockfile"
)

// openEmbedded starts the NATS server on cfg.StateDir and connects to it
// in-process.
func (e *Engine) openEmbedded(ctx context.Context) error {
	storeDir := filepath.Join(e.cfg.StateDir, "nats")
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(storeDir, "wsdeck.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := lockfile.Lock(lock); err != nil {
		lock.Close()
		return fmt.Errorf("state directory %s: %w (another wsdeck serve?)", e.cfg.StateDir, err)
	}
	e.lock = lock

	opts := &server.Options{
		ServerName: "wsdeck",
		JetStream:  true,
		StoreDir:   storeDir,
		SyncAlways: e.cfg.SyncAlways,
		// The server must not install its own SIGINT/SIGTERM/SIGHUP
		// handlers in wsdeck's process.
		NoSigs:     true,
		DontListen: e.cfg.ListenAddr == "",
	}
	if e.cfg.ListenAddr != "" {
		host, port, err := splitListenAddr(e.cfg.ListenAddr)
		if err != nil {
			return err
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("embedded NATS server: %w", err)
	}
	e.srvLog = newServerLog(e.cfg.Logger)
	srv.SetLoggerV2(e.srvLog, e.srvLog.debug(), false, false)

	// Start does the work (JetStream recovers its streams from disk
	// there) and returns; it is run apart so ctx bounds the wait.
	started := make(chan struct{})
	go func() {
		srv.Start()
		close(started)
	}()
	select {
	case <-started:
	case <-ctx.Done():
		// Shutdown waits for Start, so it stops the server in the
		// background; the lock is released once it has stopped.
		go func() {
			<-started
			srv.Shutdown()
			srv.WaitForShutdown()
			lock.Close()
		}()
		e.lock = nil
		return fmt.Errorf("embedded NATS server in %s: not started: %w", e.cfg.StateDir, ctx.Err())
	}
	e.srv = srv
	if msg := e.srvLog.fatalMsg(); msg != "" {
		return fmt.Errorf("embedded NATS server in %s: %s", e.cfg.StateDir, msg)
	}
	if !srv.JetStreamEnabled() {
		return fmt.Errorf("embedded NATS server in %s: JetStream did not start", e.cfg.StateDir)
	}
	// Start has returned, so this only reads the state it left.
	if !srv.ReadyForConnections(time.Second) {
		return fmt.Errorf("embedded NATS server in %s: not ready for connections", e.cfg.StateDir)
	}

	nc, err := nats.Connect("", e.natsOptions(nats.InProcessServer(srv))...)
	if err != nil {
		return fmt.Errorf("connect to the embedded NATS server: %w", err)
	}
	e.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	e.js = js
	return nil
}

// splitListenAddr parses host:port for the server's options, where port
// 0 would mean NATS' default port (4222) and -1 a random one.
func splitListenAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("listen address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}
