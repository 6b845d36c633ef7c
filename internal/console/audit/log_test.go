package audit

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

func TestLogStoresAndRefusesDeletes(t *testing.T) {
	e := enginetest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(t.TempDir(), "export", "audit.jsonl")
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := Open(ctx, e, Options{Export: f})
	if err != nil {
		t.Fatal(err)
	}
	start := Record{Event: EventStart, Job: "j1", Client: "web 127.0.0.1:1", Hosts: 1, Command: "true"}
	s1, err := l.Write(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the same record is stored once.
	if again, err := l.Write(ctx, start); err != nil || again != s1 {
		t.Errorf("retried write: seq %d, %v; want %d", again, err, s1)
	}
	end := start
	end.Event, end.State = EventEnd, "done"
	s2, err := l.Write(ctx, end)
	if err != nil || s2 != s1+1 {
		t.Fatalf("end record: seq %d, %v", s2, err)
	}
	recs, err := Read(ctx, l.Stream(), 0, 10)
	if err != nil || len(recs) != 2 || recs[0].Seq != s1 || recs[1].State != "done" || recs[1].Job != "j1" {
		t.Fatalf("read %+v, %v", recs, err)
	}
	if rep, err := VerifyFile(path); err != nil || !rep.OK() || rep.Records != 2 {
		t.Errorf("export: %+v, %v; want 2 chained records", rep, err)
	}

	if err := l.Stream().Delete(ctx, s1); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("delete: %v, want ErrDenied", err)
	}
	if err := l.Stream().Purge(ctx, ""); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("purge: %v, want ErrDenied", err)
	}
	if recs, _ := Read(ctx, l.Stream(), 0, 10); len(recs) != 2 {
		t.Errorf("%d records after the refused delete and purge, want 2", len(recs))
	}

	// Follow delivers the stored records, then new ones.
	fctx, fcancel := context.WithCancel(ctx)
	got := make(chan Record, 10)
	done := make(chan error, 1)
	go func() {
		done <- Follow(fctx, l.Stream(), 1, func(r Record) error { got <- r; return nil })
	}()
	third := start
	third.Job = "j2"
	if _, err := l.Write(ctx, third); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"j1", "j1", "j2"} {
		select {
		case r := <-got:
			if r.Job != want || r.Seq != uint64(i+1) {
				t.Errorf("followed record %d: %s seq %d, want %s seq %d", i, r.Job, r.Seq, want, i+1)
			}
		case <-ctx.Done():
			t.Fatal("follow: no record")
		}
	}
	fcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("follow ended with %v", err)
	}
}

// TestLogStoresOneEnd: a job's second end record, as its node writes when
// it is back after another node marked the job interrupted, is not stored;
// the stream remembers the ids for DefaultDedupe (MaxAge if shorter), and
// Lookup, a reader's way in, leaves that and MaxAge as Open set them.
func TestLogStoresOneEnd(t *testing.T) {
	e := enginetest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Open(ctx, e, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := Record{Event: EventStart, Job: "j1", Hosts: 1, Command: "sleep 60", Node: "a"}
	if _, err := l.Write(ctx, start); err != nil {
		t.Fatal(err)
	}
	interrupted := start
	interrupted.Event, interrupted.State, interrupted.Node = EventEnd, "interrupted", "b"
	s2, err := l.Write(ctx, interrupted)
	if err != nil {
		t.Fatal(err)
	}
	late := start
	late.Event, late.State = EventEnd, "done"
	if s3, err := l.Write(ctx, late); err != nil || s3 != s2 {
		t.Errorf("the late end: seq %d, %v; want the first end's %d", s3, err, s2)
	}
	recs, err := Read(ctx, l.Stream(), 0, 10)
	if err != nil || len(recs) != 2 || recs[1].State != "interrupted" {
		t.Errorf("records %+v, %v; want the start and one end, interrupted", recs, err)
	}
	if in, err := l.Stream().Info(ctx); err != nil || in.Duplicates != DefaultDedupe {
		t.Errorf("the stream remembers ids for %v (%v), want %v", in.Duplicates, err, DefaultDedupe)
	}

	if _, err := Open(ctx, e, Options{MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	r, err := Lookup(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := r.Stream().Info(ctx); err != nil || in.MaxAge != time.Hour || in.Duplicates != time.Hour {
		t.Errorf("after Lookup: max age %v, ids for %v (%v); want 1h and 1h", in.MaxAge, in.Duplicates, err)
	}
	if recs, err := Read(ctx, r.Stream(), 0, 10); err != nil || len(recs) != 2 {
		t.Errorf("Lookup's log reads %d records, %v", len(recs), err)
	}
}

func TestLookupWithoutStream(t *testing.T) {
	e := enginetest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Lookup(ctx, e); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Lookup before any Open: %v, want ErrNotFound", err)
	}
}

func TestLogWriteFailsWithoutEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := engine.Open(ctx, engine.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, e, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write(ctx, Record{Event: EventStart, Job: "x"}); err == nil {
		t.Fatal("write succeeded with the engine shut down")
	}
}
