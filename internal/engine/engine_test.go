package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

func TestEmbeddedOpenPublishReadShutdown(t *testing.T) {
	var log logBuffer
	dir := t.TempDir()
	ctx := ctxT(t)
	e, err := Open(ctx, Config{StateDir: dir, Logger: log.logger()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if e.Mode() != "embedded" || e.Replicas() != 1 || e.ClientURL() != "" {
		t.Errorf("Mode, Replicas, ClientURL = %q, %d, %q; want embedded, 1, none (no listening port)", e.Mode(), e.Replicas(), e.ClientURL())
	}
	fi, err := os.Stat(filepath.Join(dir, "nats"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if err := e.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}

	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	for i, text := range []string{"one", "two", "three"} {
		if seq := mustPublish(t, s, "chat.lobby", text, ""); seq != uint64(i+1) {
			t.Errorf("Publish %q: sequence %d, want %d", text, seq, i+1)
		}
	}
	msgs, err := s.Read(ctx, ReadOptions{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := strings.Join(datas(msgs), ","); got != "one,two,three" {
		t.Errorf("Read = %s, want one,two,three", got)
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) || m.Subject != "chat.lobby" || m.Time.IsZero() {
			t.Errorf("msg %d = %+v", i, m)
		}
	}
	if msgs, err = s.Read(ctx, ReadOptions{From: 2, Limit: 1}); err != nil || strings.Join(datas(msgs), ",") != "two" {
		t.Errorf("Read(From 2, Limit 1) = %v, %v; want two", datas(msgs), err)
	}
	if m, err := s.Get(ctx, 3); err != nil || string(m.Data) != "three" {
		t.Errorf("Get(3) = %+v, %v", m, err)
	}
	if _, err := s.Get(ctx, 4); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(4) = %v, want ErrNotFound", err)
	}
	if msgs, err := s.Last(ctx, "", 2); err != nil || strings.Join(datas(msgs), ",") != "two,three" {
		t.Errorf("Last(2) = %v, %v; want two,three", datas(msgs), err)
	}
	in, err := s.Info(ctx)
	if err != nil || in.Msgs != 3 || in.FirstSeq != 1 || in.LastSeq != 3 || in.Created.IsZero() {
		t.Errorf("Info = %+v, %v", in, err)
	}
	if st := e.Stats(); !st.Connected || st.OutMsgs == 0 || st.InMsgs == 0 || st.OutBytes == 0 {
		t.Errorf("Stats = %+v; want connected with traffic counted", st)
	}

	if err := e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := e.Health(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Health after Shutdown = %v, want ErrClosed", err)
	}
	if _, err := s.Publish(ctx, "chat.lobby", []byte("late"), ""); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Shutdown = %v, want ErrClosed", err)
	}
	// Shutdown waits for the server: none of its goroutines is left.
	leakcheck.Check(t, "nats-io/")
	if !strings.Contains(log.String(), "engine ready") || !strings.Contains(log.String(), "component=nats-server") {
		t.Errorf("log lacks the engine's or the server's lines:\n%s", log.String())
	}
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	ctx := ctxT(t)
	e, err := Open(ctx, Config{StateDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	mustPublish(t, s, "chat.lobby", "before", "id-1")
	mustPublish(t, s, "chat.lobby", "restart", "id-2")
	b, err := e.Bucket(ctx, BucketConfig{Name: "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := b.Put(ctx, "abc", []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := e.Objects(ctx, ObjectsConfig{Name: "recordings"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Put(ctx, "rec", strings.NewReader("recorded")); err != nil {
		t.Fatal(err)
	}
	shutdown(t, e)

	e = openEmbedded(t, dir)
	s = mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	msgs, err := s.Read(ctx, ReadOptions{})
	if err != nil || strings.Join(datas(msgs), ",") != "before,restart" {
		t.Fatalf("Read after restart = %v, %v; want before,restart", datas(msgs), err)
	}
	if msgs[1].ID() != "id-2" {
		t.Errorf("message id after restart = %q, want id-2", msgs[1].ID())
	}
	if seq := mustPublish(t, s, "chat.lobby", "after", ""); seq != 3 {
		t.Errorf("sequence after restart = %d, want 3", seq)
	}
	b, err = e.Bucket(ctx, BucketConfig{Name: "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "abc"); err != nil || string(v.Value) != "alice" || v.Revision != rev {
		t.Errorf("Get after restart = %+v, %v; want alice at revision %d", v, err, rev)
	}
	if o, err = e.Objects(ctx, ObjectsConfig{Name: "recordings"}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := o.Get(ctx, "rec")
	if err != nil {
		t.Fatalf("object after restart: %v", err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || string(got) != "recorded" {
		t.Errorf("object after restart = %q, %v", got, err)
	}
}

func TestStateDirLocked(t *testing.T) {
	dir := t.TempDir()
	openEmbedded(t, dir)
	start := time.Now()
	e, err := Open(ctxT(t), Config{StateDir: dir, Logger: quietLogger()})
	if err == nil {
		shutdown(t, e)
		t.Fatal("a second Open on the same state directory succeeded")
	}
	if !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), dir) {
		t.Errorf("error = %q; want it to say the state directory is in use, and name it", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v", d)
	}
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/xdg")
	if d, _ := DefaultStateDir(); d != "/var/xdg/wsdeck" {
		t.Errorf("with XDG_STATE_HOME: %q", d)
	}
	t.Setenv("HOME", "/home/u")
	for _, v := range []string{"", "relative/path"} {
		t.Setenv("XDG_STATE_HOME", v)
		if d, _ := DefaultStateDir(); d != "/home/u/.local/state/wsdeck" {
			t.Errorf("with XDG_STATE_HOME=%q: %q", v, d)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"creds without URLs", Config{StateDir: t.TempDir(), CredsFile: "x.creds"}, "need external NATS URLs"},
		{"listen with URLs", Config{URLs: []string{"nats://127.0.0.1:1"}, ListenAddr: ":4222"}, "embedded server"},
		{"cert without key", Config{URLs: []string{"nats://127.0.0.1:1"}, CertFile: "c.pem"}, "both"},
		{"bad listen address", Config{StateDir: t.TempDir(), ListenAddr: "nope"}, "listen address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Open(ctxT(t), tc.cfg)
			if err == nil {
				shutdown(t, e)
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestOpenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := Open(ctx, Config{StateDir: t.TempDir(), Logger: quietLogger()})
	if err == nil {
		shutdown(t, e)
		t.Fatal("Open with a done context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

// TestListenAddr: the embedded server can listen for other nodes, which
// then use it as an external engine and see the same streams.
func TestListenAddr(t *testing.T) {
	ctx := ctxT(t)
	e, err := Open(ctx, Config{StateDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, e) })
	url := e.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":0") || strings.HasSuffix(url, ":4222") {
		t.Fatalf("ClientURL = %q, want nats://127.0.0.1:<picked port>", url)
	}
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	mustPublish(t, s, "chat.lobby", "from the first node", "")

	other, err := Open(ctx, Config{URLs: []string{url}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, other)
	s2 := mustStream(t, other, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
	if msgs, err := s2.Read(ctx, ReadOptions{}); err != nil || strings.Join(datas(msgs), ",") != "from the first node" {
		t.Errorf("other node reads %v, %v", datas(msgs), err)
	}
}
