package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wsdeck/internal/fleet/batch"
)

// TestAudit: wsdeck audit prints a log, verify reports an intact one as
// OK, and an edited one as an error (exit status 1) naming the line.
func TestAudit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := batch.OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		l.Write(batch.AuditRecord{Event: "start", Job: fmt.Sprint("job", i), Client: "web 127.0.0.1:1", Hosts: 1, Expression: "local", Command: "uptime"})
	}
	l.Close()
	audit := func(args ...string) (string, error) {
		var out strings.Builder
		err := runAudit(&out, flag.NewFlagSet("audit", flag.ContinueOnError), args)
		return out.String(), err
	}

	out, err := audit(path)
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, `    2 `) || !strings.Contains(out, `"uptime"`) {
		t.Errorf("print: %v\n%s", err, out)
	}
	out, err = audit("verify", path)
	if err != nil || !strings.Contains(out, path+": OK: 3 records, the last seq 3, head ") {
		t.Errorf("verify, intact: %v\n%s", err, out)
	}

	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), `"job":"job1"`, `"job":"jobX"`, 1)), 0o600)
	out, err = audit("verify", path)
	if err == nil || !strings.Contains(err.Error(), "1 sign of tampering") || !strings.HasPrefix(out, path+":2: edited: ") {
		t.Errorf("verify, edited: %v\n%s", err, out)
	}

	if _, err := audit("verify", path, "more"); err == nil {
		t.Error("two files accepted")
	}
	if _, err := audit(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "no audit log at") {
		t.Errorf("a missing log: %v", err)
	}
}
