package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"wsdeck/internal/console/socket"
	"wsdeck/internal/fleet/batch"
	"wsdeck/websocket"
)

const testTimeout = 30 * time.Second

// wireMsg is any message of /ws/exec, decoded.
type wireMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Code    string          `json:"code"`
	Error   string          `json:"error"`
	Job     json.RawMessage `json:"job"` // an id in events and accepted, an object in job
	Replay  bool            `json:"replay"`
	Events  []wireEvent     `json:"events"`
	Skipped int             `json:"skipped"`
	Count   int             `json:"count"`
	Folded  string          `json:"folded"`
	Denied  string          `json:"denied"`
	At      *int            `json:"at"`
	Len     int             `json:"len"`
	// hello
	AllowHosts string `json:"allow_hosts"`
	MaxHosts   int    `json:"max_hosts"`
}

type wireEvent struct {
	E      string   `json:"e"`
	I      int      `json:"i"`
	S      string   `json:"s"`
	Lines  []string `json:"lines"`
	Result *struct {
		Host     string `json:"host"`
		Status   string `json:"status"`
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
	} `json:"result"`
	Summary *struct {
		Total    int  `json:"total"`
		OK       int  `json:"ok"`
		Failed   int  `json:"failed"`
		Canceled bool `json:"canceled"`
	} `json:"summary"`
	Text    string `json:"text"`
	Message string `json:"message"`
	Limit   int64  `json:"limit"`
}

// fakeViewer is a viewer that decodes what it is sent.
type fakeViewer struct {
	msgs chan wireMsg
}

func newViewer() *fakeViewer { return &fakeViewer{msgs: make(chan wireMsg, 1<<14)} }

func (v *fakeViewer) Send(pm *websocket.PreparedMessage) bool { return v.SendOwn(pm.Payload()) }
func (v *fakeViewer) SendOwn(b []byte) bool {
	var m wireMsg
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("not JSON: %q", b))
	}
	select {
	case v.msgs <- m:
		return true
	default:
		panic("fakeViewer: too many messages")
	}
}

func (v *fakeViewer) next(t *testing.T) wireMsg {
	t.Helper()
	select {
	case m := <-v.msgs:
		return m
	case <-time.After(testTimeout):
		t.Fatal("no message")
	}
	return wireMsg{}
}

// until returns the events the viewer gets up to and including the first
// for which stop holds, and the messages they came in.
func (v *fakeViewer) until(t *testing.T, stop func(wireEvent) bool) (events []wireEvent, msgs []wireMsg) {
	t.Helper()
	for {
		m := v.next(t)
		msgs = append(msgs, m)
		for _, e := range m.Events {
			events = append(events, e)
			if stop(e) {
				return events, msgs
			}
		}
	}
}

func isSummary(e wireEvent) bool { return e.E == "summary" }

// jobID returns the id of a job message's job.
func jobID(t *testing.T, m wireMsg) string {
	t.Helper()
	var info jobInfo
	if err := json.Unmarshal(m.Job, &info); err != nil {
		t.Fatalf("job of %s message: %v", m.Type, err)
	}
	return info.ID
}

func newService(t *testing.T, opts Options) (*Service, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	audit, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Audit == nil {
		opts.Audit = audit
	}
	opts.Logger = discardLogger()
	s := New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		audit.Close()
	})
	return s, path
}

func readAudit(t *testing.T, path string) []batch.AuditRecord {
	t.Helper()
	recs, err := batch.ReadAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestCount(t *testing.T) {
	s, _ := newService(t, Options{MaxHosts: 300})
	for _, tc := range []struct {
		expr           string
		count          int
		folded, denied string
		errAt          int // -1: no error
	}{
		{"127.0.0.1-100", 100, "127.0.0.[1-100]", "", -1},
		{"127.0.0.1-5,!127.0.0.3,local", 5, "127.0.0.[1-2,4-5],local", "", -1},
		{"127.0.0.1,10.0.0.1-3", 4, "10.0.0.[1-3],127.0.0.1", "10.0.0.[1-3]", -1},
		{"127.0.0.1,127.0.0.300", 0, "", "", 10},
		{"10.0.0.0/16", 0, "", "", 0}, // over MaxHosts
	} {
		m := s.Count("c1", tc.expr)
		if m.Type != "count" || m.ID != "c1" || m.Hosts != tc.expr {
			t.Errorf("%q: reply %+v does not name the request", tc.expr, m)
		}
		if tc.errAt >= 0 {
			if m.Error == "" || m.At == nil || *m.At != tc.errAt || m.Len == 0 {
				t.Errorf("%q: error %q at %v len %d, want one at %d", tc.expr, m.Error, m.At, m.Len, tc.errAt)
			}
			continue
		}
		if m.Error != "" || m.Count != tc.count || m.Denied != tc.denied {
			t.Errorf("%q: count %d denied %q error %q, want %d, %q", tc.expr, m.Count, m.Denied, m.Error, tc.count, tc.denied)
		}
		if !strings.Contains(m.Folded, "127.0.0.") && tc.count > 0 && !strings.HasPrefix(tc.expr, "10.") {
			t.Errorf("%q: folded %q", tc.expr, m.Folded)
		}
	}
}

func TestStartRefused(t *testing.T) {
	s, path := newService(t, Options{MaxCommand: 64})
	for _, tc := range []struct {
		name, hosts, command, code string
	}{
		{"no command", "local", "   ", socket.CodeInvalid},
		{"long command", "local", strings.Repeat("x", 65), socket.CodeTooBig},
		{"bad expression", "127.0.0.1-", "true", socket.CodeInvalid},
		{"beyond allow-hosts", "127.0.0.1,192.0.2.1-3", "true", CodeDenied},
	} {
		_, err := s.Start(tc.hosts, tc.command, "test")
		var se *socket.Error
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("%s: %v, want a %s error", tc.name, err, tc.code)
		}
		if tc.code == CodeDenied && !strings.Contains(err.Error(), "192.0.2.[1-3]") {
			t.Errorf("%s: %v does not name the refused hosts", tc.name, err)
		}
	}
	if recs := readAudit(t, path); len(recs) != 0 {
		t.Errorf("refused jobs wrote %d audit records", len(recs))
	}
}

func TestJobReachesEveryViewer(t *testing.T) {
	s, path := newService(t, Options{})
	a, b := newViewer(), newViewer()
	s.watch(a)
	defer s.unwatch(a)
	s.watch(b)
	defer s.unwatch(b)
	for _, v := range []*fakeViewer{a, b} {
		if m := v.next(t); m.Type != "hello" || m.AllowHosts != batch.DefaultAllowHosts || m.MaxHosts == 0 {
			t.Fatalf("first message %+v, want a hello", m)
		}
	}
	id, err := s.Start("local", `printf 'one\ntwo\n'; printf 'oops\n' >&2; printf 'no newline'; exit 3`, "web 127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*fakeViewer{"a": a, "b": b} {
		m := v.next(t)
		if m.Type != "job" || jobID(t, m) != id || m.Replay {
			t.Fatalf("viewer %s: %+v, want the job announced", name, m)
		}
		events, _ := v.until(t, isSummary)
		var stdout, stderr []string
		var finished *wireEvent
		for _, e := range events {
			switch e.E {
			case "out":
				if e.I != 0 {
					t.Errorf("viewer %s: output of host %d", name, e.I)
				}
				if e.S == "stderr" {
					stderr = append(stderr, e.Lines...)
				} else {
					stdout = append(stdout, e.Lines...)
				}
			case "finished":
				finished = &e
			}
		}
		if events[0].E != "started" {
			t.Errorf("viewer %s: first event %q, want started", name, events[0].E)
		}
		if want := []string{"one", "two", "no newline"}; !slices.Equal(stdout, want) {
			t.Errorf("viewer %s: stdout %q, want %q", name, stdout, want)
		}
		if want := []string{"oops"}; !slices.Equal(stderr, want) {
			t.Errorf("viewer %s: stderr %q, want %q", name, stderr, want)
		}
		if finished == nil || finished.Result.Status != "exit" || finished.Result.ExitCode != 3 || finished.Result.Host != "local" {
			t.Fatalf("viewer %s: finished %+v, want exit 3 on local", name, finished)
		}
		sum := events[len(events)-1]
		if sum.Summary.Total != 1 || sum.Summary.Failed != 1 || !strings.Contains(sum.Text, "failed 1 (local)") {
			t.Errorf("viewer %s: summary %+v %q", name, sum.Summary, sum.Text)
		}
	}
	waitEnded(t, s)
	recs := readAudit(t, path)
	if len(recs) != 2 || recs[0].Event != "start" || recs[1].Event != "end" || recs[1].Job != id {
		t.Fatalf("audit %+v, want the job's start and end", recs)
	}
	if r := recs[1]; r.Client != "web 127.0.0.1:1" || r.Hosts != 1 || r.Failed != 1 ||
		len(r.Results) != 1 || r.Results[0].ExitCode != 3 || !strings.Contains(r.Command, "exit 3") {
		t.Errorf("end record %+v", r)
	}
}

// waitEnded waits for the current job's end record to be written.
func waitEnded(t *testing.T, s *Service) {
	t.Helper()
	s.mu.Lock()
	j := s.current
	s.mu.Unlock()
	select {
	case <-j.done:
	case <-time.After(testTimeout):
		t.Fatal("the job did not end")
	}
}

// TestViewerJoiningMidJob checks that a viewer who arrives while a job
// runs sees exactly what one who watched from the start saw: the replay
// and the live events meet with nothing lost or repeated.
func TestViewerJoiningMidJob(t *testing.T) {
	s, _ := newService(t, Options{FlushInterval: time.Millisecond})
	fifo := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	first := newViewer()
	s.watch(first)
	defer s.unwatch(first)
	first.next(t) // hello
	if _, err := s.Start("local", fmt.Sprintf("seq 1 500; cat %s; seq 501 1000", fifo), "test"); err != nil {
		t.Fatal(err)
	}
	first.next(t) // job
	before, _ := first.until(t, func(e wireEvent) bool { return e.E == "out" && slices.Contains(e.Lines, "500") })

	late := newViewer()
	s.watch(late)
	defer s.unwatch(late)
	late.next(t) // hello
	if m := late.next(t); m.Type != "job" || !m.Replay {
		t.Fatalf("late viewer got %+v, want the job as a replay", m)
	}
	// Let the command go on.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()

	after, _ := first.until(t, isSummary)
	seen, msgs := late.until(t, isSummary)
	if msgs[0].Skipped != 0 {
		t.Errorf("replay skipped %d lines within its budget", msgs[0].Skipped)
	}
	all := append(before, after...)
	if !equalEvents(seen, all) {
		t.Errorf("late viewer saw %d events, the first %d: they differ", len(seen), len(all))
	}
	var lines []string
	for _, e := range seen {
		lines = append(lines, e.Lines...)
	}
	if len(lines) != 1000 || lines[0] != "1" || lines[999] != "1000" {
		t.Errorf("late viewer got %d lines (%q...)", len(lines), lines[:min(3, len(lines))])
	}
}

func equalEvents(a, b []wireEvent) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestReplayKeepsTheLastOutput checks the replay's bound: a viewer who
// arrives after a job with more output than ReplayBytes gets the last of
// it, the count of lines left out, and every result.
func TestReplayKeepsTheLastOutput(t *testing.T) {
	s, _ := newService(t, Options{ReplayBytes: 4 << 10, MaxBatch: 512})
	if _, err := s.Start("local", "seq 1 20000", "test"); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, s)
	v := newViewer()
	s.watch(v)
	defer s.unwatch(v)
	v.next(t) // hello
	v.next(t) // job
	events, msgs := v.until(t, isSummary)
	var lines []string
	for _, e := range events {
		lines = append(lines, e.Lines...)
	}
	if msgs[0].Skipped+len(lines) != 20000 || len(lines) == 0 || lines[len(lines)-1] != "20000" {
		t.Fatalf("replay of %d lines, %d skipped, last %q: want the last lines of 20000", len(lines), msgs[0].Skipped, lines[len(lines)-1])
	}
	if n := len(strings.Join(lines, "\n")); n > 8<<10 {
		t.Errorf("replay holds %d bytes of output, over its 4 KiB budget", n)
	}
	if events[0].E != "started" || events[len(events)-2].E != "finished" {
		t.Errorf("replay lost the started or finished event: %q ... %q", events[0].E, events[len(events)-2].E)
	}
}

func TestTerminalCapAndEncoding(t *testing.T) {
	s, _ := newService(t, Options{MaxTerminal: 100})
	v := newViewer()
	s.watch(v)
	defer s.unwatch(v)
	v.next(t) // hello
	if _, err := s.Start("local", `printf 'bad \377 byte\n'; seq 1 1000`, "test"); err != nil {
		t.Fatal(err)
	}
	v.next(t) // job
	events, _ := v.until(t, isSummary)
	var lines []string
	muted := 0
	for _, e := range events {
		lines = append(lines, e.Lines...)
		if e.E == "muted" {
			muted++
		}
	}
	if len(lines) == 0 || lines[0] != "bad \uFFFD byte" {
		t.Errorf("first line %q, want the bad byte replaced", lines[:min(1, len(lines))])
	}
	if muted != 1 || len(strings.Join(lines, "\n")) > 100 {
		t.Errorf("%d muted events and %d bytes of lines, want one and at most 100", muted, len(strings.Join(lines, "\n")))
	}
	if e := events[len(events)-2]; e.E != "finished" || e.Result.Status != "ok" {
		t.Errorf("after the cap, the result %+v was not sent", e)
	}
}

// TestOutputIsFilteredForTheTerminal: a host that prints sequences to erase
// the line before it and forge another (as C1 controls, which the page's
// filter once let through) sends viewers its text and colors only, live
// and in the replay of a viewer who comes later.
func TestOutputIsFilteredForTheTerminal(t *testing.T) {
	s, _ := newService(t, Options{})
	v := newViewer()
	s.watch(v)
	defer s.unwatch(v)
	v.next(t) // hello
	// \302\233 is U+009B (CSI) in UTF-8, \302\235 U+009D (OSC), \302\234
	// U+009C (ST).
	cmd := `printf '\033[31mERROR: /dev/sda1 failing\033[0m\n'; ` +
		`printf '\302\233A\302\2332K\302\233G\302\23332mdisk check passed\302\2330m\302\2352;pwned\302\234\n'; ` +
		`printf '\033]0;title\007\033[2J\033[8mhidden\033[0m\n' >&2`
	if _, err := s.Start("local", cmd, "test"); err != nil {
		t.Fatal(err)
	}
	v.next(t) // job
	want := map[string][]string{
		"stdout": {"\x1b[31mERROR: /dev/sda1 failing\x1b[0m", "\x1b[32mdisk check passed\x1b[0m"},
		"stderr": {"hidden\x1b[0m"},
	}
	check := func(who string, events []wireEvent) {
		t.Helper()
		got := map[string][]string{}
		for _, e := range events {
			if e.E == "out" {
				got[e.S] = append(got[e.S], e.Lines...)
			}
		}
		for st, lines := range want {
			if !slices.Equal(got[st], lines) {
				t.Errorf("%s: %s lines %q, want %q", who, st, got[st], lines)
			}
		}
	}
	events, _ := v.until(t, isSummary)
	check("live viewer", events)
	late := newViewer()
	s.watch(late)
	defer s.unwatch(late)
	late.next(t) // hello
	late.next(t) // job
	events, _ = late.until(t, isSummary)
	check("replay", events)
}

func TestBusyCancelAndShutdown(t *testing.T) {
	s, path := newService(t, Options{Job: batch.Config{KillGrace: time.Second}})
	v := newViewer()
	s.watch(v)
	defer s.unwatch(v)
	v.next(t) // hello
	id, err := s.Start("local", "echo running; sleep 60", "test")
	if err != nil {
		t.Fatal(err)
	}
	v.until(t, func(e wireEvent) bool { return e.E == "out" })
	var se *socket.Error
	if _, err := s.Start("local", "true", "test"); !errors.As(err, &se) || se.Code != CodeBusy || !strings.Contains(se.Message, id) {
		t.Fatalf("a second job: %v, want busy naming %s", err, id)
	}
	if err := s.Cancel("nosuchjob", "test"); !errors.As(err, &se) || se.Code != CodeNoJob {
		t.Fatalf("cancelling another job: %v, want no_job", err)
	}
	start := time.Now()
	if err := s.Cancel(id, "test"); err != nil {
		t.Fatal(err)
	}
	events, _ := v.until(t, isSummary)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancel took %v", took)
	}
	fin := events[len(events)-2]
	if fin.E != "finished" || fin.Result.Status != "canceled" || !events[len(events)-1].Summary.Canceled {
		t.Errorf("after cancel: %+v then %+v", fin, events[len(events)-1].Summary)
	}
	waitEnded(t, s)
	if err := s.Cancel("", "test"); !errors.As(err, &se) || se.Code != CodeNoJob {
		t.Errorf("cancel with nothing running: %v", err)
	}

	// Shutdown stops a running job and waits for its end record.
	if _, err := s.Start("local", "sleep 60", "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	recs := readAudit(t, path)
	if len(recs) != 4 || recs[3].Event != "end" || !recs[3].Canceled {
		t.Errorf("audit after shutdown: %+v", recs)
	}
	if _, err := s.Start("local", "true", "test"); err == nil {
		t.Error("a job started after Shutdown")
	}
}

func TestAuditFailureRunsNothing(t *testing.T) {
	dir := t.TempDir()
	audit, err := OpenAuditLog(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	audit.Close() // every write now fails
	s, _ := newService(t, Options{Audit: audit})
	marker := filepath.Join(dir, "ran")
	_, err = s.Start("local", "touch "+marker, "test")
	var se *socket.Error
	if !errors.As(err, &se) || se.Code != CodeAudit {
		t.Fatalf("with a failing audit log: %v, want an audit error", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command ran: %v", err)
	}
}

// TestJobThatCannotRun checks that viewers get a summary even when the
// engine refuses the job (here: no home directory to find ~/.ssh in).
func TestJobThatCannotRun(t *testing.T) {
	t.Setenv("HOME", "")
	s, path := newService(t, Options{})
	v := newViewer()
	s.watch(v)
	defer s.unwatch(v)
	v.next(t) // hello
	if _, err := s.Start("local", "true", "test"); err != nil {
		t.Fatal(err)
	}
	v.next(t) // job
	events, _ := v.until(t, isSummary)
	sum := events[len(events)-1]
	if sum.Summary.Failed != 1 || !strings.Contains(sum.Text, "did not run") {
		t.Errorf("summary %+v %q, want the job failed and why", sum.Summary, sum.Text)
	}
	waitEnded(t, s)
	if recs := readAudit(t, path); len(recs) != 2 || recs[1].Event != "end" {
		t.Errorf("audit %+v, want a start and an end", recs)
	}
}

// TestNextJobRightAfterSummary checks that a viewer who has a job's
// summary can start the next job at once, and that the audit log has the
// first job's end before the second's start.
func TestNextJobRightAfterSummary(t *testing.T) {
	s, path := newService(t, Options{})
	v := newViewer()
	s.watch(v)
	defer s.unwatch(v)
	v.next(t) // hello
	for i := range 5 {
		if _, err := s.Start("local", fmt.Sprintf("echo %d", i), "test"); err != nil {
			t.Fatalf("job %d, started as soon as the previous summary came: %v", i, err)
		}
		v.next(t) // job
		v.until(t, isSummary)
	}
	waitEnded(t, s)
	recs := readAudit(t, path)
	for i, r := range recs {
		if want := []string{"start", "end"}[i%2]; r.Event != want {
			t.Fatalf("audit record %d is %q, want %q: %+v", i, r.Event, want, recs)
		}
	}
}
