package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

func TestExternalPublishRead(t *testing.T) {
	srv := runServer(t, t.TempDir(), 0)
	ctx := ctxT(t)
	e, err := Open(ctx, Config{URLs: []string{srv.ClientURL()}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, e)
	if e.Mode() != "external" || e.Replicas() != 1 || e.StateDir() != "" {
		t.Errorf("Mode, Replicas, StateDir = %q, %d, %q; want external, 1 (one server), none", e.Mode(), e.Replicas(), e.StateDir())
	}
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	mustPublish(t, s, "chat.lobby", "over TCP", "id")
	mustPublish(t, s, "chat.lobby", "over TCP", "id")
	if msgs, err := s.Read(ctx, ReadOptions{}); err != nil || strings.Join(datas(msgs), ",") != "over TCP" {
		t.Errorf("Read = %v, %v", datas(msgs), err)
	}
	if err := e.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}
}

func TestExternalWithoutJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer stopServer(srv)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	e, err := Open(ctxT(t), Config{URLs: []string{srv.ClientURL()}, Logger: quietLogger()})
	if err == nil {
		shutdown(t, e)
		t.Fatal("Open succeeded on a server without JetStream")
	}
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), srv.ClientURL()) {
		t.Errorf("error = %v; want ErrUnavailable naming %s", err, srv.ClientURL())
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestExternalUnreachableAtStart(t *testing.T) {
	// A listener that accepts and never speaks: the NATS handshake waits
	// for an INFO that does not come.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	wg.Go(func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	defer func() {
		silent.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()

	refused := fmt.Sprintf("nats://wsdeck:s3cret-pw@127.0.0.1:%d", freePort(t))
	for _, tc := range []struct {
		name string
		urls []string
	}{
		{"refused", []string{refused}},
		{"silent", []string{"nats://" + silent.Addr().String()}},
		{"both", []string{refused, "nats://" + silent.Addr().String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log logBuffer
			const timeout = time.Second
			start := time.Now()
			e, err := Open(context.Background(), Config{URLs: tc.urls, ConnectTimeout: timeout, Logger: log.logger()})
			took := time.Since(start)
			if err == nil {
				shutdown(t, e)
				t.Fatal("Open succeeded")
			}
			t.Logf("error after %v: %v", took, err)
			if took > timeout+time.Second {
				t.Errorf("Open took %v, want within the connect timeout %v", took, timeout)
			}
			for _, u := range tc.urls {
				host := u[strings.LastIndexByte(u, '@')+1:]
				if !strings.Contains(err.Error(), host) {
					t.Errorf("error does not name %s", host)
				}
			}
			if strings.Contains(err.Error()+log.String(), "s3cret-pw") {
				t.Errorf("the password leaked into the error or the log")
			}
		})
	}
}

// TestExternalServerLost: while the server is gone a publish fails at once
// with ErrDisconnected (nothing is buffered); when a server is back on the
// same port the engine reconnects by itself, publishes work again, and a
// subscription resumes where it stopped.
func TestExternalServerLost(t *testing.T) {
	dir := t.TempDir()
	srv := runServer(t, dir, 0)
	port := serverPort(srv)
	ctx := ctxT(t)
	e := openReconnecting(t, srv.ClientURL())
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	mustPublish(t, s, "chat.lobby", "before", "")

	var (
		mu  sync.Mutex
		got []string
	)
	sub, err := s.Subscribe(ctx, SubscribeOptions{From: 1}, func(m Msg) {
		mu.Lock()
		got = append(got, string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	waitFor(t, "the first entry", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})

	stopServer(srv)
	waitFor(t, "the engine to notice", 10*time.Second, func() bool { return !e.Stats().Connected })
	start := time.Now()
	_, err = s.Publish(ctx, "chat.lobby", []byte("while down"), "")
	if !errors.Is(err, ErrDisconnected) {
		t.Errorf("Publish while down = %v, want ErrDisconnected", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Publish while down took %v to fail", d)
	}
	t.Logf("publish while down: %v", err)
	if err := e.Health(ctx); !errors.Is(err, ErrDisconnected) {
		t.Errorf("Health while down = %v, want ErrDisconnected", err)
	}

	runServer(t, dir, port)
	waitFor(t, "the engine to reconnect", 10*time.Second, func() bool { return e.Health(ctx) == nil })
	if st := e.Stats(); st.Reconnects == 0 {
		t.Errorf("Stats after reconnect = %+v, want Reconnects > 0", st)
	}
	if seq := mustPublish(t, s, "chat.lobby", "after", ""); seq != 2 {
		t.Errorf("sequence after the server came back = %d, want 2 (the refused one not stored)", seq)
	}
	waitFor(t, "the subscription to resume", 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	mu.Lock()
	if strings.Join(got, ",") != "before,after" {
		t.Errorf("subscription delivered %v, want before,after", got)
	}
	mu.Unlock()
}

// TestExternalServerLateAtStart: a node started with its NATS server
// finds nothing listening at first; Open tries again, and succeeds once
// the server listens, within the connect timeout.
func TestExternalServerLateAtStart(t *testing.T) {
	port := freePort(t)
	var log logBuffer
	done := openAsync(context.Background(), Config{URLs: []string{fmt.Sprintf("nats://127.0.0.1:%d", port)},
		ConnectTimeout: 20 * time.Second, Logger: log.logger()})
	waitFor(t, "Open to say it tries again", 10*time.Second, func() bool {
		return strings.Contains(log.String(), "trying again")
	})
	runServer(t, t.TempDir(), port)
	r := <-done
	if r.err != nil {
		t.Fatalf("Open, once the server listens: %v", r.err)
	}
	shutdown(t, r.e)
}

// TestMemoryBucketServerRestart: a single external server forgets a
// bucket kept in memory when it restarts, so a Memory bucket is made in
// files there, and its keys and itself outlive the restart; a bucket
// another node made in memory is taken as it is.
func TestMemoryBucketServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := runServer(t, dir, 0)
	port := serverPort(srv)
	ctx := ctxT(t)
	e := openReconnecting(t, srv.ClientURL())
	b := leases(t, e)
	if st := storage(t, b); st != jetstream.FileStorage {
		t.Errorf("on a single external server: %v, want files", st)
	}
	if _, err := b.Create(ctx, "h1", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	stopServer(srv)
	waitFor(t, "the engine to notice", 10*time.Second, func() bool { return !e.Stats().Connected })
	runServer(t, dir, port)
	waitFor(t, "the engine to reconnect", 10*time.Second, func() bool { return e.Health(ctx) == nil })
	if v, err := b.Get(ctx, "h1"); err != nil || string(v.Value) != "n1" {
		t.Errorf("a key after the server's restart: %+v, %v", v, err)
	}
	if _, err := b.Create(ctx, "h2", []byte("n2")); err != nil {
		t.Errorf("Create after the server's restart: %v", err)
	}

	// A bucket another node made in memory (a console embedding the
	// server it shares) is taken as it is.
	if _, err := e.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "shared", TTL: time.Minute, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	shared, err := e.Bucket(ctx, BucketConfig{Name: "shared", TTL: time.Minute, Memory: true})
	if err != nil {
		t.Fatalf("a bucket in memory asked for here, where new ones are made in files: %v", err)
	}
	if st := storage(t, shared); st != jetstream.MemoryStorage {
		t.Errorf("the shared bucket: %v, want it in memory still", st)
	}
}
