package shell

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
)

type auditLog struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (l *auditLog) Write(_ context.Context, r audit.Record) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	return uint64(len(l.recs)), nil
}

func (l *auditLog) records() []audit.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Record(nil), l.recs...)
}

type fakeRecorder struct {
	mu      sync.Mutex
	meta    record.SessionMeta
	out, in strings.Builder
	resizes [][2]int
	closed  bool
}

func (r *fakeRecorder) Output(_ time.Time, p []byte) { r.mu.Lock(); r.out.Write(p); r.mu.Unlock() }
func (r *fakeRecorder) Input(_ time.Time, p []byte)  { r.mu.Lock(); r.in.Write(p); r.mu.Unlock() }
func (r *fakeRecorder) Resize(_ time.Time, c, w int) {
	r.mu.Lock()
	r.resizes = append(r.resizes, [2]int{c, w})
	r.mu.Unlock()
}
func (r *fakeRecorder) Close(time.Time)     { r.mu.Lock(); r.closed = true; r.mu.Unlock() }
func (r *fakeRecorder) RecordingID() string { return "rec-" + r.meta.ID }

// TestAuditAndRecording: a session's start and end reach the audit log
// (who, host, node, duration, the recording's id), and its recorder gets
// the output, the input and the resizes, and is closed.
func TestAuditAndRecording(t *testing.T) {
	log := &auditLog{}
	var rec *fakeRecorder
	reg := NewRegistry(Options{Node: "n1", LocalShell: "/bin/sh", Audit: log,
		Record: func(m record.SessionMeta) (record.Recorder, error) { rec = &fakeRecorder{meta: m}; return rec, nil }})
	url := serve(t, reg)
	c := dial(t, url, "admin")
	ch, id := c.open("local")
	c.send(map[string]any{"type": "resize", "ch": ch, "cols": 100, "rows": 30})
	c.typeIn(ch, "echo rec-$((3*3))\n")
	c.waitFor(ch, "rec-9")
	c.typeIn(ch, "exit\n")
	c.expect("ended")
	poll.Until(t, 10*time.Second, "the end audited", func() bool { return len(log.records()) == 2 })
	recs := log.records()
	start, end := recs[0], recs[1]
	if start.Event != audit.EventShellStart || start.Job != id || start.Expression != "local" || start.User != "admin" ||
		start.Method != "token" || start.Role != "admin" || start.Node != "n1" {
		t.Errorf("start record %+v", start)
	}
	if end.Event != audit.EventShellEnd || end.Job != id || end.State != "exit" || end.Recording != "rec-"+id || end.ElapsedMS <= 0 {
		t.Errorf("end record %+v", end)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.meta.ID != id || rec.meta.Host != "local" || rec.meta.User != "admin" || rec.meta.Term != Term {
		t.Errorf("recorder meta %+v", rec.meta)
	}
	if !strings.Contains(rec.out.String(), "rec-9") || !strings.Contains(rec.in.String(), "echo rec-$((3*3))") {
		t.Errorf("recorded output %q, input %q", rec.out.String(), rec.in.String())
	}
	if len(rec.resizes) != 1 || rec.resizes[0] != [2]int{100, 30} || !rec.closed {
		t.Errorf("resizes %v, closed %v", rec.resizes, rec.closed)
	}
}

// TestGrace: a session with no page attached is hung up once the grace
// time has passed (TestOpenSSH reattaches within it).
func TestGrace(t *testing.T) {
	reg := NewRegistry(Options{Node: "n1", LocalShell: "/bin/sh", Grace: 300 * time.Millisecond})
	url := serve(t, reg)
	c := dial(t, url, "admin")
	_, id := c.open("local")
	s := reg.Get(id)
	c.close()
	waitDetachedEnd(t, s, "its grace time")
	if reg.Get(id) != nil {
		t.Error("an ended session is still listed")
	}
}

// waitDetachedEnd waits for s, whose last page left, to end (at most 30 s
// past what) for the reason it was hung up.
func waitDetachedEnd(t *testing.T, s *Session, what string) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("a detached session outlived %s by 30 s", what)
	}
	s.mu.Lock()
	reason := s.reason
	s.mu.Unlock()
	if !strings.Contains(reason, "no page attached") {
		t.Errorf("ended for %q", reason)
	}
}

// TestHangupIgnored: a local shell that ignores SIGHUP (as every child of
// a wsdeck started by nohup does) is killed HangupWait after the hang-up,
// and the session ends for the reason it was hung up.
func TestHangupIgnored(t *testing.T) {
	script := filepath.Join(t.TempDir(), "deaf-sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntrap '' HUP\nexec /bin/sh \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(Options{Node: "n1", LocalShell: script, Grace: 300 * time.Millisecond, HangupWait: 200 * time.Millisecond})
	url := serve(t, reg)
	c := dial(t, url, "admin")
	ch, id := c.open("local")
	c.typeIn(ch, "echo deaf-$((2*3))\n") // the shell runs, ignoring SIGHUP
	c.waitFor(ch, "deaf-6")
	s := reg.Get(id)
	c.close()
	waitDetachedEnd(t, s, "its hang-up, ignoring SIGHUP,")
}
