package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestBucketCreateUpdateDelete(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	b, err := e.Bucket(ctx, BucketConfig{Name: "sessions", History: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a key never set = %v, want ErrNotFound", err)
	}
	r1, err := b.Create(ctx, "s1", []byte("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "s1", []byte("mallory")); !errors.Is(err, ErrExists) {
		t.Errorf("second Create = %v, want ErrExists", err)
	}
	r2, err := b.Update(ctx, "s1", []byte("alice, seen"), r1)
	if err != nil || r2 <= r1 {
		t.Fatalf("Update at the current revision = %d, %v", r2, err)
	}
	if _, err := b.Update(ctx, "s1", []byte("stale writer"), r1); !errors.Is(err, ErrRevision) {
		t.Errorf("Update at an old revision = %v, want ErrRevision", err)
	}
	if v, err := b.Get(ctx, "s1"); err != nil || string(v.Value) != "alice, seen" || v.Revision != r2 || v.Op != OpPut {
		t.Errorf("Get = %+v, %v", v, err)
	}
	if _, err := b.Put(ctx, "s2", []byte("bob")); err != nil {
		t.Fatal(err)
	}
	keys, err := b.Keys(ctx)
	sort.Strings(keys)
	if err != nil || fmt.Sprint(keys) != "[s1 s2]" {
		t.Errorf("Keys = %v, %v", keys, err)
	}
	if err := b.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if _, err := b.Create(ctx, "s1", []byte("alice again")); err != nil {
		t.Errorf("Create after Delete = %v, want it to succeed", err)
	}
	empty, err := e.Bucket(ctx, BucketConfig{Name: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := empty.Keys(ctx); err != nil || len(keys) != 0 {
		t.Errorf("Keys of an empty bucket = %v, %v", keys, err)
	}
}

// TestBucketInMemory: a Memory bucket works as any other, writes no file
// under the state directory, and does not outlive the engine's restart,
// where a bucket on files does; an existing bucket keeps its storage.
func TestBucketInMemory(t *testing.T) {
	dir := t.TempDir()
	ctx := ctxT(t)
	e, err := Open(ctx, Config{StateDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := e.Bucket(ctx, BucketConfig{Name: "leases", TTL: time.Minute, Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := e.Bucket(ctx, BucketConfig{Name: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*Bucket{leases, kept} {
		if _, err := b.Create(ctx, "k", []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Create(ctx, "k", []byte("v2")); !errors.Is(err, ErrExists) {
			t.Errorf("%s: second Create = %v, want ErrExists", b.Name(), err)
		}
		if v, err := b.Get(ctx, "k"); err != nil || string(v.Value) != "v1" {
			t.Errorf("%s: Get = %+v, %v", b.Name(), v, err)
		}
	}
	streams := map[string]bool{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "KV_") {
			streams[d.Name()] = true
		}
		return nil
	})
	if !streams["KV_kept"] || streams["KV_leases"] {
		t.Errorf("bucket directories under the state dir: %v, want KV_kept and not KV_leases", streams)
	}
	// Memory is a preference: a bucket on files stays on files.
	if b, err := e.Bucket(ctx, BucketConfig{Name: "kept", Memory: true}); err != nil {
		t.Errorf("a bucket on files asked for as a Memory one: %v", err)
	} else if st := storage(t, b); st != jetstream.FileStorage {
		t.Errorf("a bucket on files asked for as a Memory one: %v; want it on files still", st)
	}
	shutdown(t, e)

	e = openEmbedded(t, dir)
	leases, err = e.Bucket(ctx, BucketConfig{Name: "leases", TTL: time.Minute, Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leases.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a Memory bucket's key after a restart: %v, want ErrNotFound", err)
	}
	kept, err = e.Bucket(ctx, BucketConfig{Name: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := kept.Get(ctx, "k"); err != nil || string(v.Value) != "v1" {
		t.Errorf("a file bucket's key after a restart: %+v, %v", v, err)
	}
}

func TestBucketTTL(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	ctx := ctxT(t)
	b, err := e.Bucket(ctx, BucketConfig{Name: "short", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the key to expire", 5*time.Second, func() bool {
		_, err := b.Get(ctx, "k")
		return errors.Is(err, ErrNotFound)
	})
}

// TestWatchSeesPutsInOrder: a watch delivers the current values, then
// the changes in revision order. With History enough to hold them all,
// every put arrives; with History 1, a value replaced before the watch
// reached it may be skipped, but each key's latest always arrives.
func TestWatchSeesPutsInOrder(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	for _, history := range []uint8{64, 1} {
		t.Run(fmt.Sprint("History", history), func(t *testing.T) {
			testWatch(t, e, history)
		})
	}
}

func testWatch(t *testing.T, e *Engine, history uint8) {
	ctx := ctxT(t)
	b, err := e.Bucket(ctx, BucketConfig{Name: fmt.Sprint("users", history), History: history})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "user.alice", []byte("admin")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "other", []byte("not watched")); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got []Entry
	)
	w, err := b.Watch(ctx, "user.*", func(en Entry) {
		mu.Lock()
		got = append(got, en)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("Ready not closed")
	}
	mu.Lock()
	if len(got) != 1 || got[0].Key != "user.alice" || string(got[0].Value) != "admin" {
		t.Errorf("current entries = %+v, want user.alice=admin", got)
	}
	mu.Unlock()

	want := []string{"user.alice=admin"}
	latest := map[string]string{}
	for i := range 20 {
		k := fmt.Sprintf("user.u%d", i%4)
		if _, err := b.Put(ctx, k, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s=%d", k, i))
		latest[k] = fmt.Sprint(i)
	}
	if err := b.Delete(ctx, "user.alice"); err != nil {
		t.Fatal(err)
	}
	want = append(want, "user.alice deleted")
	last, err := b.Put(ctx, "user.end", []byte("end"))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, "user.end=end")
	waitFor(t, "the last change", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[len(got)-1].Revision == last
	})
	w.Stop()
	mu.Lock()
	defer mu.Unlock()
	var seen []string
	final := map[string]string{}
	for i, en := range got {
		if en.Op == OpPut {
			seen = append(seen, fmt.Sprintf("%s=%s", en.Key, en.Value))
			final[en.Key] = string(en.Value)
		} else {
			seen = append(seen, fmt.Sprintf("%s %sd", en.Key, en.Op))
			final[en.Key] = en.Op.String()
		}
		if i > 0 && en.Revision <= got[i-1].Revision {
			t.Errorf("revision %d after %d", en.Revision, got[i-1].Revision)
		}
	}
	if history >= 64 && fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("watch saw %v\nwant      %v", seen, want)
	}
	latest["user.alice"], latest["user.end"] = "delete", "end"
	if fmt.Sprint(final) != fmt.Sprint(latest) {
		t.Errorf("latest values seen %v, want %v", final, latest)
	}
}

// TestStopAfterShutdown: a watch and a subscription left running when the
// engine shuts down end with it, and stopping them afterwards returns.
func TestStopAfterShutdown(t *testing.T) {
	ctx := ctxT(t)
	e, err := Open(ctx, Config{StateDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Bucket(ctx, BucketConfig{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Watch(ctx, "", func(Entry) {})
	if err != nil {
		t.Fatal(err)
	}
	s := mustStream(t, e, StreamConfig{Name: "s", Subjects: []string{"s"}})
	sub, err := s.Subscribe(ctx, SubscribeOptions{}, func(Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, e)
	done := make(chan struct{})
	go func() {
		w.Stop()
		sub.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop after Shutdown hangs")
	}
	if _, err := b.Put(ctx, "k", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Shutdown = %v, want ErrClosed", err)
	}
}
