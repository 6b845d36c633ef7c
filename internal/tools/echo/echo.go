// Package echo is a WebSocket echo server for conformance suites and
// benchmarks: every message comes back as it came, with its type.
package echo

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// Config configures the echo server. The zero value listens on
// 127.0.0.1:9001 with the websocket package's default limits.
type Config struct {
	Addr string
	// Conn holds the connection limits (message size, frames, ...).
	Conn websocket.ConnOptions
	// Logger receives one line per connection error; nil means slog.Default.
	Logger *slog.Logger
}

// Handler returns the echo endpoint. It does no authentication and no
// Origin check, so that any suite can be pointed at it: serve it only on
// loopback.
func Handler(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := &websocket.AcceptOptions{ConnOptions: cfg.Conn, InsecureSkipOriginCheck: true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			log.Debug("handshake refused", "remote", r.RemoteAddr, "err", err)
			return
		}
		err = Serve(r.Context(), c)
		log.Debug("connection ended", "remote", r.RemoteAddr, "err", err)
	})
}

// Serve echoes messages on c until the connection ends, and returns why.
// When ctx is done, it closes the connection with StatusGoingAway.
func Serve(ctx context.Context, c *websocket.Conn) error {
	defer c.CloseNow()
	stop := context.AfterFunc(ctx, func() { c.Close(websocket.StatusGoingAway, "server shutting down") })
	defer stop()
	var buf []byte
	for {
		typ, p, err := c.ReadAppend(context.Background(), buf[:0])
		if err != nil {
			return err
		}
		if err := c.Write(context.Background(), typ, p); err != nil {
			return err
		}
		buf = p
		if cap(buf) > 1<<20 {
			buf = nil // don't hold a big buffer for a connection gone quiet
		}
	}
}

// Run serves the echo endpoint at / on cfg.Addr until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9001"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	return RunListener(ctx, ln, cfg)
}

// RunListener serves the echo endpoint on ln until ctx is done.
func RunListener(ctx context.Context, ln net.Listener, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// Shutdown does not wait for hijacked connections: count them here.
	var wg sync.WaitGroup
	h := Handler(cfg)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			wg.Add(1)
			defer wg.Done()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    websocket.DefaultMaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	log.Info("echo server listening", "url", "ws://"+ln.Addr().String()+"/")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	wg.Wait()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
