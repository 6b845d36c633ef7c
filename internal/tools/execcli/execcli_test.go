package execcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// feed runs the printer over synthetic events for hosts, so the output
// formats can be checked without any server.
type feed struct {
	t        *testing.T
	p        *printer
	hosts    []hostexpr.Host
	out, err bytes.Buffer
	sum      batch.Summary
}

func newFeed(t *testing.T, expr string, cfg Config) *feed {
	hosts, err := hostexpr.Parse(expr, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &feed{t: t, hosts: hosts}
	cfg.Stdout, cfg.Stderr = &f.out, &f.err
	f.p = newPrinter(&cfg, hosts)
	f.sum = batch.Summary{Total: len(hosts), Elapsed: 2100 * time.Millisecond}
	return f
}

func (f *feed) output(i int, s batch.Stream, data string) {
	f.p.handle(batch.Event{Type: batch.EventOutput, Index: i, Host: f.hosts[i].String(), Stream: s, Data: []byte(data)})
}

func (f *feed) finish(i int, r batch.Result) {
	r.Index, r.Host = i, f.hosts[i].String()
	if r.OK() {
		f.sum.OK++
	} else {
		f.sum.Failed++
	}
	f.p.handle(batch.Event{Type: batch.EventFinished, Index: i, Host: r.Host, Result: &r})
}

func (f *feed) end(failed string) {
	f.sum.FailedHosts = failed
	f.p.handle(batch.Event{Type: batch.EventSummary, Index: -1, Summary: &f.sum})
}

func TestLive(t *testing.T) {
	t.Parallel()
	f := newFeed(t, "127.0.0.1-4", Config{})
	f.p.handle(batch.Event{Type: batch.EventWarning, Index: -1, Message: "a key was skipped"})
	f.output(0, batch.Stdout, "line one\nline ")
	f.output(1, batch.Stdout, "other host\n")
	f.output(0, batch.Stdout, "two\nno newline")
	f.output(0, batch.Stderr, "complaint\n")
	f.finish(0, batch.Result{Status: batch.StatusOK})
	f.output(1, batch.Stdout, strings.Repeat("x", 10)+"\n")
	f.p.handle(batch.Event{Type: batch.EventCapped, Index: 1, Host: "127.0.0.2", Stream: batch.Stdout})
	f.finish(1, batch.Result{Status: batch.StatusExit, ExitCode: 3, Dropped: 3 << 20})
	f.finish(2, batch.Result{Status: batch.StatusRefused, Err: errors.New("connection refused")})
	f.finish(3, batch.Result{Status: batch.StatusExit, ExitCode: 3})
	f.end("127.0.0.[2-4]")

	wantOut := "127.0.0.1: line one\n127.0.0.2: other host\n127.0.0.1: line two\n127.0.0.1: no newline\n127.0.0.2: xxxxxxxxxx\n" +
		"127.0.0.2: [wsdeck: output cut at 1 MiB (--max-output); the rest is counted, not shown]\n"
	if f.out.String() != wantOut {
		t.Errorf("stdout:\n%s\nwant:\n%s", f.out.String(), wantOut)
	}
	wantErr := `wsdeck: warning: a key was skipped
127.0.0.1: complaint
127.0.0.2: [wsdeck: 3 MiB more not shown (over --max-output)]
127.0.0.2: [wsdeck: exit status 3]
127.0.0.3: [wsdeck: connection refused]
127.0.0.4: [wsdeck: exit status 3]
ok 1  failed 3 (127.0.0.[2-4])  elapsed 2.1s
  exit status 3: 2 (127.0.0.[2,4])
  refused: 1 (127.0.0.3)
`
	if f.err.String() != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", f.err.String(), wantErr)
	}
}

func TestLiveColor(t *testing.T) {
	t.Parallel()
	f := newFeed(t, "a,b", Config{Color: "always"})
	f.output(0, batch.Stdout, "x\n")
	f.output(1, batch.Stdout, "y\n")
	if want := "\x1b[31ma:\x1b[0m x\n\x1b[32mb:\x1b[0m y\n"; f.out.String() != want {
		t.Errorf("got %q, want %q", f.out.String(), want)
	}
	// Not a terminal: no color unless asked.
	g := newFeed(t, "a", Config{Color: "auto"})
	g.output(0, batch.Stdout, "x\n")
	if g.out.String() != "a: x\n" {
		t.Errorf("auto on a buffer: %q", g.out.String())
	}
}

func TestGather(t *testing.T) {
	t.Parallel()
	f := newFeed(t, "127.0.0.1-5", Config{Gather: true})
	for _, i := range []int{0, 1, 3} {
		f.output(i, batch.Stdout, "same\n")
	}
	f.output(2, batch.Stdout, "diff")
	for i := range 4 {
		f.finish(i, batch.Result{Status: batch.StatusOK})
	}
	f.finish(4, batch.Result{Status: batch.StatusRefused, Err: errors.New("connection refused")})
	if f.out.Len() != 0 {
		t.Errorf("output before the end: %q", f.out.String())
	}
	f.end("127.0.0.5")
	want := `----------------
127.0.0.[1-2,4] (3)
----------------
same
----------------
127.0.0.3 (1)
----------------
diff
----------------
127.0.0.5 (1)
----------------
[wsdeck: connection refused]
`
	if f.out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", f.out.String(), want)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	f := newFeed(t, "127.0.0.1-2", Config{JSON: true})
	f.output(0, batch.Stdout, "out")
	f.output(0, batch.Stderr, "err")
	f.finish(0, batch.Result{Status: batch.StatusOK, ExitCode: 0, Stdout: 3, Stderr: 3})
	f.finish(1, batch.Result{Status: batch.StatusHostKeyUnknown, ExitCode: -1, Err: errors.New("host key unknown")})
	f.end("127.0.0.2")
	lines := strings.Split(strings.TrimSpace(f.out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), f.out.String())
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, m)
	}
	if got[0]["host"] != "127.0.0.1" || got[0]["status"] != "ok" || got[0]["stdout"] != "out" || got[0]["stderr"] != "err" ||
		got[0]["exit_code"] != 0.0 || got[0]["stdout_bytes"] != 3.0 {
		t.Errorf("first: %v", got[0])
	}
	if got[1]["status"] != "hostkey-unknown" || got[1]["error"] != "host key unknown" || got[1]["exit_code"] != -1.0 {
		t.Errorf("second: %v", got[1])
	}
	if !strings.Contains(f.err.String(), "ok 0  failed 1") && !strings.Contains(f.err.String(), "failed 1 (127.0.0.2)") {
		t.Errorf("summary: %q", f.err.String())
	}
}

// TestRunLocal runs real commands on the local target, end to end.
func TestRunLocal(t *testing.T) {
	t.Parallel()
	var out, errw bytes.Buffer
	err := Run(t.Context(), Config{Hosts: "local", Command: "echo hi; echo bye >&2; exit 3", Stdout: &out, Stderr: &errw})
	if !errors.Is(err, ErrFailed) {
		t.Errorf("Run = %v, want ErrFailed", err)
	}
	if out.String() != "local: hi\n" || !strings.Contains(errw.String(), "local: bye\n") ||
		!strings.Contains(errw.String(), "local: [wsdeck: exit status 3]") || !strings.Contains(errw.String(), "ok 0  failed 1 (local)") {
		t.Errorf("stdout %q, stderr %q", out.String(), errw.String())
	}

	out.Reset()
	errw.Reset()
	if err := Run(t.Context(), Config{Hosts: "local", Command: "echo ok", Stdout: &out, Stderr: &errw}); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	var out, errw bytes.Buffer
	err := Run(t.Context(), Config{Hosts: "web01,web:99999", Command: "true", Stdout: &out, Stderr: &errw})
	if err == nil || !strings.Contains(err.Error(), "  web01,web:99999\n           ^^^^^^") {
		t.Errorf("bad expression: %v", err)
	}
	err = Run(t.Context(), Config{Hosts: "127.0.0.1-100", MaxHosts: 10, Command: "true", Stdout: &out, Stderr: &errw})
	if !errors.Is(err, hostexpr.ErrTooManyHosts) {
		t.Errorf("over the cap: %v", err)
	}
	if err := Run(t.Context(), Config{Hosts: "local", Stdout: &out, Stderr: &errw}); err == nil {
		t.Errorf("no command accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Run(ctx, Config{Hosts: "local", Command: "true", Stdout: &out, Stderr: &errw}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
}

// TestRunCutAtLine: the output cap cuts between lines, and the cut is
// marked in the stream it fell in (live), or by a field (--json), never
// by a fragment printed as a line.
func TestRunCutAtLine(t *testing.T) {
	t.Parallel()
	const limit = 100
	// seq 1 100000's whole lines within 100 bytes: 1..36 (99 bytes).
	var want strings.Builder
	var jsonWant strings.Builder
	for i := 1; i <= 36; i++ {
		fmt.Fprintf(&want, "local: %d\n", i)
		fmt.Fprintf(&jsonWant, "%d\n", i)
	}
	want.WriteString("local: [wsdeck: output cut at 100 B (--max-output); the rest is counted, not shown]\n")

	var out, errw bytes.Buffer
	err := Run(t.Context(), Config{Hosts: "local", Command: "seq 1 100000", Job: batch.Config{MaxOutput: limit},
		Stdout: &out, Stderr: &errw})
	if err != nil {
		t.Fatalf("Run = %v; stderr %q", err, errw.String())
	}
	if out.String() != want.String() {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want.String())
	}
	if !strings.Contains(errw.String(), "local: [wsdeck: 575 KiB more not shown (over --max-output)]") {
		t.Errorf("stderr %q", errw.String())
	}

	out.Reset()
	errw.Reset()
	err = Run(t.Context(), Config{Hosts: "local", Command: "seq 1 100000", Job: batch.Config{MaxOutput: limit}, JSON: true,
		Stdout: &out, Stderr: &errw})
	if err != nil {
		t.Fatalf("Run --json = %v", err)
	}
	var got struct {
		Stdout    string `json:"stdout"`
		Truncated bool   `json:"truncated"`
		Dropped   int64  `json:"dropped_bytes"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if got.Stdout != jsonWant.String() || !got.Truncated || got.Dropped != 588895-99 {
		t.Errorf("--json: %+v", got)
	}
}
