package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/websocket"
)

func runAuditArgs(ctx context.Context, o auditOptions, args ...string) (string, error) {
	var out strings.Builder
	err := runAudit(ctx, &out, flag.NewFlagSet("audit", flag.ContinueOnError), args, o)
	return out.String(), err
}

// TestAuditStream: wsdeck audit prints the AUDIT stream of a state
// directory as JSON lines, and says what to do while a console holds it.
func TestAuditStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	e, err := engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, e, audit.Options{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Write(ctx, audit.Record{Event: "start", Job: fmt.Sprint("job", i), Command: "uptime"}); err != nil {
			t.Fatal(err)
		}
	}
	o := auditOptions{engine: engine.Config{StateDir: dir}}
	if _, err := runAuditArgs(ctx, o); err == nil || !strings.Contains(err.Error(), "a console running on this state directory") {
		t.Errorf("with the state dir held: %v", err)
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := runAuditArgs(ctx, o)
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, `{"seq":2,`) || !strings.Contains(out, `"job":"job2"`) {
		t.Errorf("print: %v\n%s", err, out)
	}
	o.from = 3
	if out, err := runAuditArgs(ctx, o); err != nil || strings.Count(out, "\n") != 1 {
		t.Errorf("print --from 3: %v\n%s", err, out)
	}
	// Reading left the console's retention alone.
	e, err = engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(ctx)
	s, err := e.LookupStream(ctx, audit.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := s.Info(ctx); err != nil || in.MaxAge != time.Hour {
		t.Errorf("after wsdeck audit, the stream keeps records for %v (%v), want the console's 1h", in.MaxAge, err)
	}
}

// TestAuditStreamNone: with no AUDIT stream yet, wsdeck audit says so.
func TestAuditStreamNone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := auditOptions{engine: engine.Config{StateDir: t.TempDir()}}
	if _, err := runAuditArgs(ctx, o); err == nil || !strings.Contains(err.Error(), "has not made its AUDIT stream yet") {
		t.Errorf("with no stream: %v", err)
	}
}

// TestAuditFile: verify reports an intact export as OK, and an edited one
// as an error (exit status 1) naming the line; print prints it.
func TestAuditFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l.Write(audit.Record{Event: "start", Job: fmt.Sprint("job", i), Client: "web 127.0.0.1:1", Hosts: 1, Expression: "local", Command: "uptime"})
	}
	l.Close()
	var o auditOptions

	out, err := runAuditArgs(ctx, o, "print", path)
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"seq":2,`) || !strings.Contains(out, `"uptime"`) {
		t.Errorf("print: %v\n%s", err, out)
	}
	out, err = runAuditArgs(ctx, o, "verify", path)
	if err != nil || !strings.Contains(out, path+": OK: 3 records, the last seq 3, head ") {
		t.Errorf("verify, intact: %v\n%s", err, out)
	}

	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `"job":"job1"`, `"job":"jobX"`, 1)), 0o600)
	out, err = runAuditArgs(ctx, o, "verify", path)
	if err == nil || !strings.Contains(err.Error(), "1 sign of tampering") || !strings.HasPrefix(out, path+":2: edited: ") {
		t.Errorf("verify, edited: %v\n%s", err, out)
	}

	if _, err := runAuditArgs(ctx, o, "verify", path, "more"); err == nil {
		t.Error("two files accepted")
	}
	if _, err := runAuditArgs(ctx, o, "print", filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no audit log at") {
		t.Errorf("a missing log: %v", err)
	}
}

// TestAuditThroughConsole: while a console holds the state directory,
// wsdeck audit --console reads the log through it, with the token, and
// follows a job's records as the job runs.
func TestAuditThroughConsole(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	e, err := engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, e, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := l.Write(ctx, audit.Record{Event: "start", Job: fmt.Sprint("old", i), Command: "uptime"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, buildWsdeck(t), "--addr", "127.0.0.1:0", "--state-dir", dir, "--exec=true")
	o := auditOptions{console: p.base, token: serveToken}

	out, err := runAuditArgs(ctx, o)
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"job":"old1"`) {
		t.Fatalf("print through the console: %v\n%s", err, out)
	}
	if _, err := runAuditArgs(ctx, auditOptions{console: p.base, token: "wrong-token-0123456789"}); err == nil {
		t.Error("read with a wrong token")
	}

	// Follow, and run a job: its start and end arrive.
	fctx, fcancel := context.WithCancel(ctx)
	got := make(chan audit.Record, 10)
	done := make(chan error, 1)
	go func() {
		done <- audit.ReadConsole(fctx, audit.ConsoleOptions{URL: p.base, Token: serveToken, From: 3, Follow: true},
			func(r audit.Record) error { got <- r; return nil })
	}()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.base, "http")+"/ws/exec",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + serveToken}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"run","hosts":"local","command":"true"}`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"start", "end"} {
		select {
		case r := <-got:
			if r.Event != want || r.Command != "true" || r.Seq < 3 {
				t.Errorf("followed %+v, want the job's %s", r, want)
			}
		case <-ctx.Done():
			t.Fatalf("no %s record followed\n%s", want, p.stderr)
		}
	}
	fcancel()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}
}
