package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/jobs"
	"github.com/wsdeck/wsdeck/websocket"
)

// openAccepted reads up to the accepted message of a run and opens its job,
// as the page does.
func openAccepted(t *testing.T, c *websocket.Conn) {
	t.Helper()
	for {
		m := readMsg(t, c)
		switch m["type"] {
		case "error":
			t.Fatalf("run: %v", m)
		case "accepted":
			writeMsg(t, c, map[string]any{"type": "open", "job": m["job"]})
			return
		}
	}
}

// TestExecEndpoint runs jobs through /ws/exec on a console with Exec set
// up: the count, a job's events to the end, and a job that shutdown
// cancels and records.
func TestExecEndpoint(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	export, err := audit.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer export.Close()
	ts := start(t, Config{Exec: &jobs.Options{AuditOptions: audit.Options{Export: export}}})
	c := ts.mustDial(t, "/ws/exec")
	if m := readMsg(t, c); m["type"] != "hello" || !strings.Contains(m["allow_hosts"].(string), "127.0.0.0/8") {
		t.Fatalf("first message %v, want a hello", m)
	}
	writeMsg(t, c, map[string]string{"type": "count", "id": "1", "hosts": "127.0.0.1-100,!127.0.0.50"})
	if m := readMsg(t, c); m["type"] != "count" || m["count"] != 99.0 || m["folded"] != "127.0.0.[1-49,51-100]" {
		t.Fatalf("count reply %v", m)
	}
	writeMsg(t, c, map[string]string{"type": "run", "id": "r", "hosts": "10.1.2.3", "command": "true"})
	if m := readMsg(t, c); m["type"] != "error" || m["code"] != jobs.CodeDenied || m["id"] != "r" {
		t.Fatalf("a job beyond --allow-hosts: %v, want a denied error", m)
	}

	writeMsg(t, c, map[string]string{"type": "run", "id": "r", "hosts": "local", "command": "echo hi"})
	openAccepted(t, c)
	var summary map[string]any
	var lines []any
	for summary == nil {
		m := readMsg(t, c)
		if m["type"] == "error" {
			t.Fatalf("run: %v", m)
		}
		if m["type"] != "events" {
			continue
		}
		for _, e := range m["events"].([]any) {
			e := e.(map[string]any)
			switch e["e"] {
			case "out":
				lines = append(lines, e["lines"].([]any)...)
			case "summary":
				summary = e["summary"].(map[string]any)
			}
		}
	}
	if len(lines) != 1 || lines[0] != "hi" || summary["ok"] != 1.0 {
		t.Errorf("job output %v, summary %v", lines, summary)
	}

	// Shutdown cancels a running job and waits for its end record.
	writeMsg(t, c, map[string]string{"type": "run", "hosts": "local", "command": "echo go; sleep 60"})
	openAccepted(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	for {
		_, p, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(p), `"type":"error"`) {
			// Sent right after the first job's summary: it must not be
			// refused as busy.
			t.Fatalf("second job: %s", p)
		}
		if strings.Contains(string(p), `"lines":["go"]`) {
			break
		}
	}
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	ts.cancel()
	if err := <-ts.done; err != nil {
		t.Fatal(err)
	}
	ts.done <- nil // for the cleanup
	recs, err := audit.ReadFile(path)
	if err != nil || len(recs) != 4 || recs[3].Event != "end" || !recs[3].Canceled {
		t.Errorf("audit log after shutdown: %+v, %v", recs, err)
	}
}
