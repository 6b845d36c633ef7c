package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wsdeck/internal/console/audit"
	"wsdeck/internal/engine"
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
	l, err := audit.Open(ctx, e, audit.Options{})
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
