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

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/websocket"
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
	State   string `json:"state"`
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
	var info Record
	if err := json.Unmarshal(m.Job, &info); err != nil {
		t.Fatalf("job of %s message: %v", m.Type, err)
	}
	return info.ID
}

// node is a Service acting as one console node, with its audit log, on a
// shared engine.
func newNode(t *testing.T, e *engine.Engine, opts Options) *Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	opts.Engine = e
	opts.Logger = discardLogger()
	s, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func newService(t *testing.T, opts Options) *Service {
	t.Helper()
	return newNode(t, enginetest.Embedded(t), opts)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// openJob opens job id on s for a new viewer, as an open request does.
func openJob(t *testing.T, s *Service, id string) *fakeViewer {
	t.Helper()
	fv := newViewer()
	v := &viewer{s: s, c: fv}
	if err := v.open(testContext(t), id); err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	t.Cleanup(v.close)
	if m := fv.next(t); m.Type != "job" || jobID(t, m) != id || !m.Replay {
		t.Fatalf("first message %+v, want job %s", m, id)
	}
	return fv
}

// jobEvents opens job id on s and returns its events up to its summary.
func jobEvents(t *testing.T, s *Service, id string) ([]wireEvent, []wireMsg) {
	t.Helper()
	return openJob(t, s, id).until(t, isSummary)
}

// waitState waits until s's index has job id in state.
func waitState(t *testing.T, s *Service, id, state string) Record {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		for _, r := range s.List(Filter{Limit: MaxListLimit}) {
			if r.ID == id && r.State == state {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never %s: %+v", id, state, s.List(Filter{}))
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, testTimeout, what, cond)
}

// auditRecords reads the audit stream of e.
func auditRecords(t *testing.T, e *engine.Engine) []audit.Record {
	t.Helper()
	ctx := testContext(t)
	l, err := audit.Open(ctx, e, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := audit.Read(ctx, l.Stream(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// start starts a job for c; a c without a role is an admin, as in token
// mode.
func start(t *testing.T, s *Service, expr, command string, c Client) string {
	t.Helper()
	if !c.Identity.Role.Valid() {
		c.Identity = consoleIdentity
	}
	id, err := s.StartFor(testContext(t), expr, command, c)
	if err != nil {
		t.Fatalf("start %q: %v", command, err)
	}
	return id
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var se *socket.Error
	if !errors.As(err, &se) || se.Code != code {
		t.Errorf("%s: %v, want a %s error", what, err, code)
	}
}

func TestCount(t *testing.T) {
	s := newService(t, Options{MaxHosts: 300})
	for _, tc := range []struct {
		expr           string
		count          int
		folded, denied string
		errAt          int // -1: no error
	}{
		{"127.0.0.1-100", 100, "127.0.0.[1-100]", "", -1},
		{"127.0.0.1-5,!127.0.0.3,local", 5, "127.0.0.[1-2,4-5],local", "", -1},
		{"127.0.0.1,10.0.0.1-3", 4, "127.0.0.1,10.0.0.[1-3]", "10.0.0.[1-3]", -1},
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
		if m.Error != "" || m.Count != tc.count || m.Denied != tc.denied || (tc.folded != "" && m.Folded != tc.folded) {
			t.Errorf("%q: count %d folded %q denied %q error %q, want %d, %q, %q", tc.expr, m.Count, m.Folded, m.Denied, m.Error, tc.count, tc.folded, tc.denied)
		}
	}
}

func TestStartRefused(t *testing.T) {
	e := enginetest.Embedded(t)
	s := newNode(t, e, Options{MaxCommand: 64})
	for _, tc := range []struct {
		name, hosts, command, code string
	}{
		{"no command", "local", "   ", socket.CodeInvalid},
		{"long command", "local", strings.Repeat("x", 65), socket.CodeTooBig},
		{"bad expression", "127.0.0.1-", "true", socket.CodeInvalid},
		{"beyond allow-hosts", "127.0.0.1,192.0.2.1-3", "true", CodeDenied},
	} {
		_, err := s.Start(testContext(t), tc.hosts, tc.command, "test")
		wantCode(t, tc.name, err, tc.code)
		if tc.code == CodeDenied && !strings.Contains(err.Error(), "192.0.2.[1-3]") {
			t.Errorf("%s: %v does not name the refused hosts", tc.name, err)
		}
	}
	if recs := auditRecords(t, e); len(recs) != 0 {
		t.Errorf("refused jobs wrote %d audit records", len(recs))
	}
	if jobs := s.List(Filter{}); len(jobs) != 0 {
		t.Errorf("refused jobs are in the history: %+v", jobs)
	}
}

// TestJobOnTwoNodes: a job run by one node is seen, whole and in order, by
// a viewer of each node, one who opened it while it ran and one after it
// ended; the audit stream holds its start and end.
func TestJobOnTwoNodes(t *testing.T) {
	e := enginetest.Embedded(t)
	a := newNode(t, e, Options{Node: "a", FlushInterval: time.Millisecond})
	b := newNode(t, e, Options{Node: "b"})
	fifo := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	id := start(t, a, "local", `printf 'one\ntwo\n'; read x < `+fifo+`; printf 'oops\n' >&2; printf 'no newline'; exit 3`,
		Client{Name: "web 127.0.0.1:1", RemoteAddr: "127.0.0.1:1"})
	live := openJob(t, b, id) // on the other node, while it runs
	if r := waitState(t, b, id, StateRunning); r.Node != "a" || r.User != "127.0.0.1" || r.Total != 1 {
		t.Errorf("record on node b: %+v", r)
	}
	if err := os.WriteFile(fifo, []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}
	liveEvents, _ := live.until(t, isSummary)
	lateEvents, _ := jobEvents(t, a, id)
	for name, events := range map[string][]wireEvent{"live on b": liveEvents, "late on a": lateEvents} {
		var stdout, stderr []string
		var finished *wireEvent
		for _, e := range events {
			switch e.E {
			case "out":
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
			t.Errorf("%s: first event %q, want started", name, events[0].E)
		}
		if want := []string{"one", "two", "no newline"}; !slices.Equal(stdout, want) {
			t.Errorf("%s: stdout %q, want %q", name, stdout, want)
		}
		if want := []string{"oops"}; !slices.Equal(stderr, want) {
			t.Errorf("%s: stderr %q, want %q", name, stderr, want)
		}
		if finished == nil || finished.Result.Status != "exit" || finished.Result.ExitCode != 3 || finished.Result.Host != "local" {
			t.Fatalf("%s: finished %+v, want exit 3 on local", name, finished)
		}
		sum := events[len(events)-1]
		if sum.Summary.Total != 1 || sum.Summary.Failed != 1 || !strings.Contains(sum.Text, "failed 1 (local)") || sum.State != StateFailed {
			t.Errorf("%s: summary %+v %q %q", name, sum.Summary, sum.Text, sum.State)
		}
	}
	if !equalEvents(liveEvents, lateEvents) {
		t.Errorf("the live viewer and the late one saw different events:\n%+v\n%+v", liveEvents, lateEvents)
	}
	r := waitState(t, b, id, StateFailed)
	if r.Failed != 1 || r.Ended.IsZero() {
		t.Errorf("ended record %+v", r)
	}
	recs := auditRecords(t, e)
	if len(recs) != 2 || recs[0].Event != "start" || recs[1].Event != "end" || recs[1].Job != id {
		t.Fatalf("audit %+v, want the job's start and end", recs)
	}
	if r := recs[1]; r.Client != "web 127.0.0.1:1" || r.Hosts != 1 || r.Failed != 1 || r.State != StateFailed || r.Node != "a" ||
		len(r.Results) != 1 || r.Results[0].ExitCode != 3 || !strings.Contains(r.Command, "exit 3") {
		t.Errorf("end record %+v", r)
	}
}

func equalEvents(a, b []wireEvent) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestHistoryAfterRestart: a job's record, output and results are there
// after the engine and the console restart on the same state directory.
func TestHistoryAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	e, err := engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, Options{Engine: e, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	id := start(t, s, "local", "echo before the restart", Client{Name: "test"})
	waitState(t, s, id, StateDone)
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	e, err = engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	s2 := newNode(t, e, Options{})
	jobs := s2.List(Filter{})
	if len(jobs) != 1 || jobs[0].ID != id || jobs[0].State != StateDone || jobs[0].Command != "echo before the restart" {
		t.Fatalf("history after the restart: %+v", jobs)
	}
	events, _ := jobEvents(t, s2, id)
	var lines []string
	for _, e := range events {
		lines = append(lines, e.Lines...)
	}
	if !slices.Equal(lines, []string{"before the restart"}) || events[len(events)-2].E != "finished" {
		t.Errorf("replay after the restart: %+v", events)
	}
}

func TestHistoryFiltersAndRetention(t *testing.T) {
	e := enginetest.Embedded(t)
	s := newNode(t, e, Options{MaxHistory: 3})
	alice := Client{Name: "web 10.0.0.1:5", RemoteAddr: "10.0.0.1:5", Session: "alice1"}
	bob := Client{Name: "web 10.0.0.2:6", RemoteAddr: "10.0.0.2:6"}
	ids := []string{
		start(t, s, "local", "echo first", alice),
		"", "", "",
	}
	waitState(t, s, ids[0], StateDone)
	ids[1] = start(t, s, "local", "exit 1", bob)
	waitState(t, s, ids[1], StateFailed)
	ids[2] = start(t, s, "local", "echo uptime", alice)
	waitState(t, s, ids[2], StateDone)
	names := func(recs []Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all, newest first", Filter{}, []string{ids[2], ids[1], ids[0]}},
		{"by user", Filter{User: "alice"}, []string{ids[2], ids[0]}},
		{"by address", Filter{User: "10.0.0.2"}, []string{ids[1]}},
		{"by state", Filter{State: StateFailed}, []string{ids[1]}},
		{"by text", Filter{Text: "UPTIME"}, []string{ids[2]}},
		{"limit", Filter{Limit: 1}, []string{ids[2]}},
	} {
		if got := names(s.List(tc.f)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}

	// A fourth job: the oldest goes, record and events.
	ids[3] = start(t, s, "local", "echo fourth", bob)
	want := []string{ids[3], ids[2], ids[1]}
	eventually(t, "the oldest job pruned", func() bool { return slices.Equal(names(s.List(Filter{})), want) })
	ctx := testContext(t)
	if _, _, err := s.getRecord(ctx, ids[0]); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("the pruned job's record: %v, want not found", err)
	}
	if msgs, err := s.stream.Read(ctx, engine.ReadOptions{Subject: "jobs." + ids[0] + ".>"}); err != nil || len(msgs) != 0 {
		t.Errorf("the pruned job's events: %d entries, %v", len(msgs), err)
	}
	if err := (&viewer{s: s, c: newViewer()}).open(ctx, ids[0]); err == nil {
		t.Error("the pruned job opens")
	}
}

// blocker returns a command that runs until the test ends (or it is
// cancelled).
const blocker = "sleep 60"

func TestCaps(t *testing.T) {
	e := enginetest.Embedded(t)
	a := newNode(t, e, Options{MaxJobs: 3, MaxClientJobs: 2, Job: batch.Config{KillGrace: time.Second}})
	b := newNode(t, e, Options{MaxJobs: 3, MaxClientJobs: 2})
	// In team mode the cap counts the user, whatever their sessions; in
	// token mode (everyone the admin) the session.
	alice := Client{Name: "alice", Session: "s-alice", Identity: auth.Identity{User: "alice", Role: users.Operator, Method: auth.MethodPassword}}
	alice2 := alice
	alice2.Session = "s-alice-2"
	bob := Client{Name: "bob", Session: "s-bob", Identity: consoleIdentity}
	ctx := testContext(t)
	ids := []string{start(t, a, "local", blocker, alice), start(t, a, "local", blocker, alice)}
	_, err := a.StartFor(ctx, "local", blocker, alice2)
	wantCode(t, "alice's third job, from another session", err, CodeBusy)
	if err != nil && !strings.Contains(err.Error(), "per client") {
		t.Errorf("the per-client refusal does not say so: %v", err)
	}
	ids = append(ids, start(t, a, "local", blocker, bob))
	// Node b sees the three running jobs and refuses a fourth.
	for _, id := range ids {
		waitState(t, b, id, StateRunning)
	}
	_, err = b.StartFor(ctx, "local", blocker, Client{Name: "carol", Session: "s-carol", Identity: consoleIdentity})
	wantCode(t, "a fourth job on the other node", err, CodeBusy)
	if err != nil && !strings.Contains(err.Error(), "console's limit") {
		t.Errorf("the total refusal does not say so: %v", err)
	}
	// Once one ends, there is room again.
	if err := b.Cancel(ctx, ids[0], "test"); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, ids[0], StateCancelled)
	start(t, b, "local", "true", Client{Name: "carol", Session: "s-carol"})
}

// TestCapsRacing: starts racing on two nodes never run more jobs than the
// console's cap.
func TestCapsRacing(t *testing.T) {
	e := enginetest.Embedded(t)
	opts := Options{MaxJobs: 2, MaxClientJobs: 10, Job: batch.Config{KillGrace: time.Second}}
	nodes := []*Service{newNode(t, e, opts), newNode(t, e, opts)}
	ctx := testContext(t)
	type result struct {
		id  string
		err error
	}
	results := make(chan result, 8)
	for i := range 8 {
		go func() {
			id, err := nodes[i%2].Start(ctx, "local", blocker, fmt.Sprint("client", i))
			results <- result{id, err}
		}()
	}
	var started []string
	for range 8 {
		r := <-results
		if r.err == nil {
			started = append(started, r.id)
			continue
		}
		wantCode(t, "a racing start", r.err, CodeBusy)
	}
	if len(started) != 2 {
		t.Errorf("%d jobs started, want the cap of 2", len(started))
	}
	for _, id := range started {
		if err := nodes[0].Cancel(ctx, id, "test"); err != nil {
			t.Error(err)
		}
		waitState(t, nodes[0], id, StateCancelled)
	}
}

// TestCancelFromOtherNode: a cancel asked of a node that does not run the
// job reaches the one that does.
func TestCancelFromOtherNode(t *testing.T) {
	e := enginetest.Embedded(t)
	a := newNode(t, e, Options{Node: "a", Job: batch.Config{KillGrace: time.Second}})
	b := newNode(t, e, Options{Node: "b"})
	ctx := testContext(t)
	id := start(t, a, "local", "echo started; "+blocker, Client{Name: "test"})
	v := openJob(t, b, id)
	v.until(t, func(e wireEvent) bool { return e.E == "out" })
	if err := b.Cancel(ctx, id, "web 127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	events, _ := v.until(t, isSummary)
	sum := events[len(events)-1]
	if !sum.Summary.Canceled || sum.State != StateCancelled {
		t.Errorf("summary %+v %q, want cancelled", sum.Summary, sum.State)
	}
	r := waitState(t, a, id, StateCancelled)
	if r.CancelBy != "web 127.0.0.1:9" {
		t.Errorf("record %+v does not say who cancelled it", r)
	}
	wantCode(t, "cancel of an ended job", b.Cancel(ctx, id, "test"), CodeNoJob)
	wantCode(t, "cancel of no job", b.Cancel(ctx, "nosuchjob", "test"), CodeNoJob)
}

// TestHeartbeatLapse: a job left running by a node that died (its record
// says running, and nobody rewrites it) is marked interrupted by a
// surviving node, which tells its viewers and the audit log; a job whose
// node is alive is not.
func TestHeartbeatLapse(t *testing.T) {
	e := enginetest.Embedded(t)
	const beat, lapse = 20 * time.Millisecond, 200 * time.Millisecond
	alive := newNode(t, e, Options{Node: "alive", Heartbeat: beat, Lapse: lapse, Job: batch.Config{KillGrace: time.Second}})
	survivor := newNode(t, e, Options{Node: "survivor", Heartbeat: beat, Lapse: lapse})
	ctx := testContext(t)
	// What a node killed mid-job leaves behind.
	dead := &Record{ID: "deadjob1", Expression: "local", Folded: "local", Command: "sleep 600", Hosts: []string{"local"},
		Total: 1, Client: "test", User: "olga", Method: "password", Role: "operator", Node: "dead", State: StateRunning, Started: time.Now().UTC()}
	if _, err := survivor.bucket.Create(ctx, dead.ID, dead.marshal()); err != nil {
		t.Fatal(err)
	}
	running := start(t, alive, "local", blocker, Client{Name: "test"})
	v := openJob(t, survivor, dead.ID)
	began := time.Now()
	r := waitState(t, survivor, dead.ID, StateInterrupted)
	if took := time.Since(began); took > 10*lapse {
		t.Errorf("interrupted after %v, over 10 lapses", took)
	}
	if r.Failed != 1 || !strings.Contains(r.Summary, "dead") {
		t.Errorf("interrupted record %+v", r)
	}
	events, _ := v.until(t, isSummary)
	if s := events[len(events)-1]; s.State != StateInterrupted {
		t.Errorf("viewers got %+v, want an interrupted summary", s)
	}
	var end *audit.Record
	for _, rec := range auditRecords(t, e) {
		if rec.Job == dead.ID && rec.Event == audit.EventEnd {
			end = &rec
		}
	}
	if end == nil || end.State != StateInterrupted || end.Node != "dead" || end.User != "olga" || end.Method != "password" || end.Role != "operator" {
		t.Errorf("audit end record of the dead node's job: %+v", end)
	}
	// The live node's job outlived many lapses meanwhile, and still runs.
	eventually(t, "the live job heartbeats for three lapses", func() bool {
		for _, r := range survivor.List(Filter{}) {
			if r.ID == running {
				return r.State != StateRunning || r.Beat.After(began.Add(3*lapse))
			}
		}
		return false
	})
	waitState(t, survivor, running, StateRunning)
	if err := alive.Cancel(ctx, running, "test"); err != nil {
		t.Fatal(err)
	}
	waitState(t, survivor, running, StateCancelled)
}

// TestAuditFailureRunsNothing: a job whose start record cannot be stored
// does not run, and leaves no record.
func TestAuditFailureRunsNothing(t *testing.T) {
	e := enginetest.Embedded(t)
	ctx := testContext(t)
	ae, err := engine.Open(ctx, engine.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, ae, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ae.Shutdown(ctx); err != nil { // the audit's engine is gone
		t.Fatal(err)
	}
	s := newNode(t, e, Options{Audit: l})
	marker := filepath.Join(t.TempDir(), "ran")
	_, err = s.Start(ctx, "local", "touch "+marker, "test")
	wantCode(t, "start with the audit log down", err, CodeAudit)
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the job ran: %v", err)
	}
	if jobs := s.List(Filter{}); len(jobs) != 0 {
		t.Errorf("history %+v, want none", jobs)
	}
}

func TestReplayKeepsTheLastOutput(t *testing.T) {
	s := newService(t, Options{ReplayBytes: 4 << 10, MaxBatch: 512})
	id := start(t, s, "local", "seq 1 20000", Client{Name: "test"})
	waitState(t, s, id, StateDone)
	events, msgs := jobEvents(t, s, id)
	var lines []string
	for _, e := range events {
		lines = append(lines, e.Lines...)
	}
	if msgs[0].Skipped+len(lines) != 20000 || len(lines) == 0 || lines[len(lines)-1] != "20000" {
		t.Fatalf("replay of %d lines, %d skipped: want the last lines of 20000", len(lines), msgs[0].Skipped)
	}
	if n := len(strings.Join(lines, "\n")); n > 8<<10 {
		t.Errorf("replay holds %d bytes of output, over its 4 KiB budget", n)
	}
	if events[0].E != "started" || events[len(events)-2].E != "finished" {
		t.Errorf("replay lost the started or finished event: %q ... %q", events[0].E, events[len(events)-2].E)
	}
}

func TestTerminalCapAndEncoding(t *testing.T) {
	s := newService(t, Options{MaxTerminal: 100})
	id := start(t, s, "local", `printf 'bad \377 byte\n'; seq 1 1000`, Client{Name: "test"})
	events, _ := jobEvents(t, s, id)
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
// filter once let through) sends viewers its text and colors only.
func TestOutputIsFilteredForTheTerminal(t *testing.T) {
	s := newService(t, Options{})
	// \302\233 is U+009B (CSI) in UTF-8, \302\235 U+009D (OSC), \302\234
	// U+009C (ST).
	cmd := `printf '\033[31mERROR: /dev/sda1 failing\033[0m\n'; ` +
		`printf '\302\233A\302\2332K\302\233G\302\23332mdisk check passed\302\2330m\302\2352;pwned\302\234\n'; ` +
		`printf '\033]0;title\007\033[2J\033[8mhidden\033[0m\n' >&2`
	id := start(t, s, "local", cmd, Client{Name: "test"})
	want := map[string][]string{
		"stdout": {"\x1b[31mERROR: /dev/sda1 failing\x1b[0m", "\x1b[32mdisk check passed\x1b[0m"},
		"stderr": {"hidden\x1b[0m"},
	}
	events, _ := jobEvents(t, s, id)
	got := map[string][]string{}
	for _, e := range events {
		if e.E == "out" {
			got[e.S] = append(got[e.S], e.Lines...)
		}
	}
	for st, lines := range want {
		if !slices.Equal(got[st], lines) {
			t.Errorf("%s lines %q, want %q", st, got[st], lines)
		}
	}
}

// TestShutdownEndsJobs: Shutdown cancels the node's running job and
// returns once its end is recorded.
func TestShutdownEndsJobs(t *testing.T) {
	e := enginetest.Embedded(t)
	ctx := testContext(t)
	s, err := New(ctx, Options{Engine: e, Logger: discardLogger(), Job: batch.Config{KillGrace: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	id := start(t, s, "local", blocker, Client{Name: "test"})
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	other := newNode(t, e, Options{})
	if r := waitState(t, other, id, StateCancelled); r.Ended.IsZero() {
		t.Errorf("record after shutdown %+v", r)
	}
	if _, err := s.Start(ctx, "local", "true", "test"); err == nil {
		t.Error("a job started after Shutdown")
	}
}

// TestJobThatCannotRun: a job the engine refuses still ends with a summary
// saying why.
func TestJobThatCannotRun(t *testing.T) {
	t.Setenv("HOME", "")
	e := enginetest.Embedded(t)
	s := newNode(t, e, Options{})
	id := start(t, s, "local", "true", Client{Name: "test"})
	events, _ := jobEvents(t, s, id)
	if sum := events[len(events)-1]; sum.Summary.Failed != 1 || !strings.Contains(sum.Text, "did not run") {
		t.Errorf("summary %+v %q, want the job failed and why", sum.Summary, sum.Text)
	}
	waitState(t, s, id, StateFailed)
	if recs := auditRecords(t, e); len(recs) != 2 || recs[1].Event != "end" {
		t.Errorf("audit %+v, want a start and an end", recs)
	}
}

// TestHistoryBytes: the history's events stay within HistoryBytes, the
// oldest going first; the job's end is still there.
func TestHistoryBytes(t *testing.T) {
	const limit = 64 << 10
	s := newService(t, Options{HistoryBytes: limit, MaxBatch: 4 << 10})
	id := start(t, s, "local", "seq 1 50000", Client{Name: "test"})
	waitState(t, s, id, StateDone)
	info, err := s.stream.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes > limit || info.FirstSeq == 1 {
		t.Errorf("the stream holds %d bytes from sequence %d, want at most %d with the oldest gone", info.Bytes, info.FirstSeq, limit)
	}
	events, _ := jobEvents(t, s, id)
	var lines []string
	for _, e := range events {
		lines = append(lines, e.Lines...)
	}
	if len(lines) == 0 || lines[0] == "1" || lines[len(lines)-1] != "50000" || events[len(events)-1].E != "summary" {
		t.Errorf("replay within the limit: %d lines from %q, last event %q", len(lines), lines[:min(1, len(lines))], events[len(events)-1].E)
	}
}

// TestEngineStoppedRunsNothing: with the engine stopped, a job is refused
// and does not run.
func TestEngineStoppedRunsNothing(t *testing.T) {
	ctx := testContext(t)
	e, err := engine.Open(ctx, engine.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := newNode(t, e, Options{})
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	_, err = s.Start(ctx, "local", "touch "+marker, "test")
	wantCode(t, "start with the engine stopped", err, CodeEngine)
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the job ran: %v", err)
	}
}
