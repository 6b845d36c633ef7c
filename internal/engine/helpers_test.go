package engine

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsdeck/wsdeck/internal/testkit/poll"
)

// logBuffer collects a log for a test to search; it may be written after
// the test has ended.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// quietLogger discards the log (for tests whose engine outlives the
// test's logging).
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openEmbedded opens an embedded engine on dir and shuts it down at the
// end of the test.
func openEmbedded(t testing.TB, dir string) *Engine {
	t.Helper()
	e, err := Open(ctxT(t), Config{StateDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { shutdown(t, e) })
	return e
}

func shutdown(t testing.TB, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// runServer starts a standalone nats-server with JetStream on dir,
// listening on 127.0.0.1:port (0 picks one), as an external deployment
// would run it. Stop it with stopServer; the test's end stops it too.
func runServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "external",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { stopServer(s) })
	return s
}

func stopServer(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

func serverPort(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// openReconnecting opens an engine on urls that reconnects quickly, shut
// down at the test's end.
func openReconnecting(t testing.TB, urls ...string) *Engine {
	t.Helper()
	e, err := Open(ctxT(t), Config{URLs: urls, ReconnectWait: 100 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, e) })
	return e
}

// leases opens the bucket of leases the Memory tests use.
func leases(t testing.TB, e *Engine) *Bucket {
	t.Helper()
	b, err := e.Bucket(ctxT(t), BucketConfig{Name: "leases", TTL: time.Minute, MaxBytes: 1 << 20, Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storage returns where the server keeps bucket b.
func storage(t testing.TB, b *Bucket) jetstream.StorageType {
	t.Helper()
	st, err := b.kv.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return st.Config().Storage
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

func mustStream(t testing.TB, e *Engine, cfg StreamConfig) *Stream {
	t.Helper()
	s, err := e.Stream(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("Stream(%s): %v", cfg.Name, err)
	}
	return s
}

func mustPublish(t testing.TB, s *Stream, subject, data, id string) uint64 {
	t.Helper()
	seq, err := s.Publish(ctxT(t), subject, []byte(data), id)
	if err != nil {
		t.Fatalf("Publish(%s, %q): %v", subject, data, err)
	}
	return seq
}

func datas(msgs []Msg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Data)
	}
	return out
}

// opened is what Open returned.
type opened struct {
	e   *Engine
	err error
}

// openAsync calls Open in a goroutine and delivers what it returned.
func openAsync(ctx context.Context, cfg Config) <-chan opened {
	done := make(chan opened, 1)
	go func() {
		e, err := Open(ctx, cfg)
		done <- opened{e, err}
	}()
	return done
}
