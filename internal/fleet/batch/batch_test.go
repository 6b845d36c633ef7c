package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// recorder is a handler that keeps every event and checks the contract of
// the stream: never called concurrently; per host Started, Output*,
// Capped?, Finished, each Finished exactly once; Summary last.
type recorder struct {
	t       testing.TB
	inside  atomic.Bool
	hook    func(Event) // called for each event, after the checks
	targets int

	mu       sync.Mutex
	started  map[int]bool
	finished map[int]*Result
	out      map[int]map[Stream]*bytes.Buffer
	capped   map[int]int
	warnings []string
	summary  *Summary
}

func newRecorder(t testing.TB, targets int) *recorder {
	return &recorder{t: t, targets: targets, started: map[int]bool{}, finished: map[int]*Result{},
		out: map[int]map[Stream]*bytes.Buffer{}, capped: map[int]int{}}
}

func (r *recorder) handle(ev Event) {
	if !r.inside.CompareAndSwap(false, true) {
		r.t.Errorf("handler called concurrently")
	}
	defer r.inside.Store(false)
	r.mu.Lock()
	i := ev.Index
	if r.summary != nil {
		r.t.Errorf("%v event after the summary", ev.Type)
	}
	switch ev.Type {
	case EventStarted:
		if r.started[i] || r.finished[i] != nil {
			r.t.Errorf("host %d: started twice or after finishing", i)
		}
		r.started[i] = true
	case EventOutput:
		if !r.started[i] || r.finished[i] != nil || r.capped[i] > 0 {
			r.t.Errorf("host %d: output outside its run or after the cap", i)
		}
		if r.out[i] == nil {
			r.out[i] = map[Stream]*bytes.Buffer{Stdout: {}, Stderr: {}}
		}
		r.out[i][ev.Stream].Write(ev.Data)
	case EventCapped:
		r.capped[i]++
		if r.capped[i] > 1 || r.finished[i] != nil {
			r.t.Errorf("host %d: capped twice or after finishing", i)
		}
	case EventFinished:
		if r.finished[i] != nil {
			r.t.Errorf("host %d finished twice", i)
		}
		if !r.started[i] && ev.Result.Status != StatusCanceled {
			r.t.Errorf("host %d finished as %v without starting", i, ev.Result.Status)
		}
		if ev.Result.Index != i || ev.Result.Host != ev.Host {
			r.t.Errorf("host %d: result for %d %q", i, ev.Result.Index, ev.Result.Host)
		}
		r.finished[i] = ev.Result
	case EventWarning:
		r.warnings = append(r.warnings, ev.Message)
	case EventSummary:
		if len(r.finished) != r.targets {
			r.t.Errorf("summary after %d of %d hosts finished", len(r.finished), r.targets)
		}
		r.summary = ev.Summary
	}
	r.mu.Unlock()
	if r.hook != nil {
		r.hook(ev)
	}
}

func (r *recorder) result(i int) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished[i]
}

func (r *recorder) output(i int, s Stream) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out[i] == nil {
		return ""
	}
	return r.out[i][s].String()
}

// run parses expr, runs cfg with command on it and returns the recorder.
func run(t testing.TB, ctx context.Context, cfg Config, expr, command string, hook func(Event)) (*recorder, *Summary) {
	t.Helper()
	hosts, err := hostexpr.Parse(expr, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Targets, cfg.Command = hosts, command
	rec := newRecorder(t, len(hosts))
	rec.hook = hook
	sum, err := Run(ctx, cfg, rec.handle)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rec.summary != sum {
		t.Errorf("the summary returned is not the one sent")
	}
	return rec, sum
}

func mustParse(t testing.TB, expr string) []hostexpr.Host {
	t.Helper()
	hosts, err := hostexpr.Parse(expr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return hosts
}

// wantStatus checks every host's status.
func wantStatus(t testing.TB, rec *recorder, want Status) {
	t.Helper()
	for i := range rec.targets {
		r := rec.result(i)
		if r.Status != want {
			t.Errorf("%s: %v (%v), want %v", r.Host, r.Status, r.Err, want)
		}
	}
}

func TestManyHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 20)
	rec, sum := run(t, t.Context(), e.config, "127.0.0.1-20", "hostname", nil)
	wantStatus(t, rec, StatusOK)
	for i := range 20 {
		want := fmt.Sprintf("127.0.0.%d\n", i+1)
		if got := rec.output(i, Stdout); got != want {
			t.Errorf("host %d printed %q, want %q (its own address)", i, got, want)
		}
		r := rec.result(i)
		if r.ExitCode != 0 || r.Stdout != int64(len(want)) || r.Addr != fmt.Sprintf("127.0.0.%d:%d", i+1, e.srv.port) || r.User != currentUser() {
			t.Errorf("result %+v", r)
		}
	}
	if sum.OK != 20 || sum.Failed != 0 || sum.FailedHosts != "" || sum.ByStatus[StatusOK] != 20 {
		t.Errorf("summary %+v", sum)
	}
	e.srv.waitIdle(t)
}

// TestFanout checks that the fan-out limit is reached and never passed:
// a server-side barrier of Fanout sessions releases only when that many
// run at once, and no more hosts than that are ever between Started and
// Finished.
func TestFanout(t *testing.T) {
	t.Parallel()
	const fanout = 4
	e := newEnv(t, 12)
	cfg := e.config
	cfg.Fanout = fanout
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	running, most := 0, 0
	rec, _ := run(t, ctx, cfg, "127.0.0.1-12", fmt.Sprintf("barrier %d", fanout), func(ev Event) {
		switch ev.Type {
		case EventStarted:
			running++
			most = max(most, running)
		case EventFinished:
			running--
		}
	})
	wantStatus(t, rec, StatusOK)
	if most != fanout {
		t.Errorf("%d hosts at once, fan-out %d", most, fanout)
	}
}

func TestStreamsApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1", "both", nil)
	wantStatus(t, rec, StatusOK)
	if o, e := rec.output(0, Stdout), rec.output(0, Stderr); o != "out\n" || e != "err\n" {
		t.Errorf("stdout %q, stderr %q", o, e)
	}
	if r := rec.result(0); r.Stdout != 4 || r.Stderr != 4 || r.Dropped != 0 {
		t.Errorf("counts %+v", r)
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	rec, sum := run(t, t.Context(), e.config, "127.0.0.1-3", "exit 3", nil)
	wantStatus(t, rec, StatusExit)
	for i := range 3 {
		if r := rec.result(i); r.ExitCode != 3 || r.Err != nil || r.Message() != "exit status 3" {
			t.Errorf("result %+v: %q", r, r.Message())
		}
	}
	if sum.Failed != 3 || sum.FailedHosts != "127.0.0.[1-3]" || sum.String()[:len("ok 0  failed 3 (127.0.0.[1-3])")] != "ok 0  failed 3 (127.0.0.[1-3])" {
		t.Errorf("summary %v", sum)
	}
}

func TestSignalled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1", "killself", nil)
	if r := rec.result(0); r.Status != StatusSignal || r.Signal != "SEGV" || r.ExitCode != -1 {
		t.Errorf("result %+v", r)
	}
}

func TestNoExitStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1", "noexit", nil)
	if r := rec.result(0); r.Status != StatusError || !strings.Contains(r.Message(), "without an exit status") {
		t.Errorf("result %+v", r)
	}
}

// TestOutputCap: 3 MiB written, 1 MiB delivered, 2 MiB counted and
// dropped, one EventCapped, and the command still ends normally.
func TestOutputCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	const total = 3 << 20
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1-2", fmt.Sprint("yes ", total), nil)
	wantStatus(t, rec, StatusOK)
	for i := range 2 {
		r := rec.result(i)
		if got := len(rec.output(i, Stdout)); got != DefaultMaxOutput {
			t.Errorf("host %d: %d bytes delivered, want %d", i, got, DefaultMaxOutput)
		}
		if r.Stdout != total || r.Dropped != total-DefaultMaxOutput || rec.capped[i] != 1 {
			t.Errorf("host %d: %+v, capped %d", i, r, rec.capped[i])
		}
	}
}

// TestOutputCapSmall: a cap of 5 bytes holds one of the two 4-byte lines;
// the other would cross it and is dropped whole.
func TestOutputCapSmall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	cfg := e.config
	cfg.MaxOutput = 5
	rec, _ := run(t, t.Context(), cfg, "127.0.0.1", "both", nil)
	// Which stream arrives first is up to the scheduler: one whole line.
	if got := rec.output(0, Stdout) + rec.output(0, Stderr); got != "out\n" && got != "err\n" {
		t.Errorf("delivered %q", got)
	}
	if r := rec.result(0); r.Dropped != 4 || r.Stdout+r.Stderr != 8 || rec.capped[0] != 1 {
		t.Errorf("result %+v, capped %d", r, rec.capped[0])
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	port := closedPort(t)
	rec, _ := run(t, t.Context(), e.config, fmt.Sprintf("127.0.0.1:%d", port), "echo x", nil)
	if r := rec.result(0); r.Status != StatusRefused || r.Message() != "connection refused" {
		t.Errorf("result %+v", r)
	}
}

// closedPort returns a loopback port nothing listens on (just closed).
func closedPort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	addr := e.srv.stall(t, "127.0.0.2")
	cfg := e.config
	cfg.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	rec, _ := run(t, t.Context(), cfg, addr+",127.0.0.1", "echo ok", nil)
	elapsed := time.Since(start)
	r := rec.result(0)
	if r.Status != StatusTimeout || !errors.Is(r.Err, ErrConnectTimeout) {
		t.Errorf("stalled server: %+v", r)
	}
	if r.Duration < cfg.ConnectTimeout || elapsed > 10*time.Second {
		t.Errorf("timed out after %v (job %v), timeout %v", r.Duration, elapsed, cfg.ConnectTimeout)
	}
	if r := rec.result(1); r.Status != StatusOK {
		t.Errorf("the other host: %+v", r)
	}
}

func TestAuthFailed(t *testing.T) {
	t.Parallel()
	other, _ := sshtest.NewKey(t)
	key, pemKey := sshtest.NewKey(t)
	srv := startServer(t, 1, "", other.PublicKey()) // authorizes another key
	e := newEnvFor(t, srv, key, pemKey)
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1", "echo x", nil)
	if r := rec.result(0); r.Status != StatusAuthFailed || !strings.Contains(r.Message(), "unable to authenticate") {
		t.Errorf("result %+v", r)
	}
	srv.waitIdle(t)
}

func TestWrongUser(t *testing.T) {
	t.Parallel()
	key, pemKey := sshtest.NewKey(t)
	srv := startServer(t, 1, "alice", key.PublicKey())
	e := newEnvFor(t, srv, key, pemKey)
	rec, _ := run(t, t.Context(), e.config, "bob@127.0.0.1,alice@127.0.0.1", "echo x", nil)
	if r := rec.result(0); r.Status != StatusAuthFailed || r.User != "bob" {
		t.Errorf("bob: %+v", r)
	}
	if r := rec.result(1); r.Status != StatusOK || r.User != "alice" {
		t.Errorf("alice: %+v", r)
	}
}

func TestHostKeyUnknown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	e.writeKnownHosts(t, "")
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1", "echo x", nil)
	r := rec.result(0)
	var hke *HostKeyError
	if r.Status != StatusHostKeyUnknown || !errors.As(r.Err, &hke) || !strings.Contains(r.Message(), "--accept-new") {
		t.Errorf("result %+v", r)
	}
	if b, _ := os.ReadFile(e.known); len(b) != 0 {
		t.Errorf("known_hosts written without --accept-new: %q", b)
	}
}

func TestHostKeyChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	impostor, _ := sshtest.NewKey(t)
	e.writeKnownHosts(t, sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.1]:%d", e.srv.port), impostor.PublicKey()))
	for _, acceptNew := range []bool{false, true} {
		cfg := e.config
		cfg.AcceptNew = acceptNew
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1", "echo x", nil)
		r := rec.result(0)
		if r.Status != StatusHostKeyChanged || !strings.Contains(r.Message(), "HOST KEY CHANGED") ||
			!strings.Contains(r.Message(), e.known+":1") {
			t.Errorf("accept-new %v: %+v", acceptNew, r)
		}
	}
}

func TestHostKeyRevoked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	b, _ := os.ReadFile(e.known)
	e.writeKnownHosts(t, string(b)+"@revoked "+sshtest.KnownHostsLine("*", e.srv.hostKeys[0].PublicKey()))
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1", "echo x", nil)
	if r := rec.result(0); r.Status != StatusHostKeyRevoked {
		t.Errorf("result %+v", r)
	}
}

func TestHostKeyHashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	e.writeKnownHosts(t, hashedLine(fmt.Sprintf("127.0.0.1:%d", e.srv.port), e.srv.hostKeys[0].PublicKey()))
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1-2", "echo x", nil)
	if r := rec.result(0); r.Status != StatusOK {
		t.Errorf("hashed entry: %+v", r)
	}
	if r := rec.result(1); r.Status != StatusHostKeyUnknown {
		t.Errorf("host without an entry: %+v", r)
	}
}

// TestHostKeyKnownTypePreferred: the server has ECDSA and Ed25519 keys,
// known_hosts only the Ed25519 one. x/crypto prefers ECDSA, which alone
// would look like a changed key; the known type must be asked for first.
func TestHostKeyKnownTypePreferred(t *testing.T) {
	t.Parallel()
	key, pemKey := sshtest.NewKey(t)
	ed, _ := sshtest.NewKey(t)
	srv := startServer(t, 1, "", key.PublicKey(), newECDSAKey(t), ed)
	e := newEnvFor(t, srv, key, pemKey)
	e.writeKnownHosts(t, sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.1]:%d", srv.port), ed.PublicKey()))
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1", "echo x", nil)
	if r := rec.result(0); r.Status != StatusOK {
		t.Errorf("result %+v", r)
	}
}

func TestAcceptNew(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	known := filepath.Join(e.dir, "sub", "known_hosts") // not there yet
	cfg := e.config
	cfg.KnownHosts = []string{known}
	cfg.AcceptNew = true
	rec, _ := run(t, t.Context(), cfg, "127.0.0.1-10", "echo x", nil)
	wantStatus(t, rec, StatusOK)
	if len(rec.warnings) != 10 || !strings.Contains(rec.warnings[0], "first use") {
		t.Errorf("warnings %q", rec.warnings)
	}
	b, err := os.ReadFile(known)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 10 {
		t.Errorf("known_hosts has %d lines, want 10:\n%s", len(lines), b)
	}
	// Now known: the same job passes without AcceptNew, and nothing is added.
	cfg.AcceptNew = false
	rec, _ = run(t, t.Context(), cfg, "127.0.0.1-10", "echo x", nil)
	wantStatus(t, rec, StatusOK)
	if after, _ := os.ReadFile(known); !bytes.Equal(after, b) {
		t.Errorf("known_hosts changed on the second run")
	}
}

func TestAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	os.Remove(filepath.Join(e.dir, "id_ed25519")) // the agent is the only way in
	cfg := e.config
	cfg.AgentSocket = startAgent(t, e.pemKey)
	rec, _ := run(t, t.Context(), cfg, "127.0.0.1-2", "echo x", nil)
	wantStatus(t, rec, StatusOK)

	cfg.AgentSocket = None
	rec, _ = run(t, t.Context(), cfg, "127.0.0.1", "echo x", nil)
	wantStatus(t, rec, StatusAuthFailed)
	if len(rec.warnings) != 1 || !strings.Contains(rec.warnings[0], "no SSH key") {
		t.Errorf("warnings %q", rec.warnings)
	}
}

func TestIdentityFlag(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	moved := filepath.Join(t.TempDir(), "mykey")
	if err := os.Rename(filepath.Join(e.dir, "id_ed25519"), moved); err != nil {
		t.Fatal(err)
	}
	cfg := e.config
	cfg.Identities = []string{moved}
	rec, _ := run(t, t.Context(), cfg, "127.0.0.1", "echo x", nil)
	wantStatus(t, rec, StatusOK)

	cfg.Identities = []string{moved + ".missing"}
	hosts, _ := hostexpr.Parse("127.0.0.1", nil)
	cfg.Targets, cfg.Command = hosts, "echo x"
	called := false
	if _, err := Run(t.Context(), cfg, func(Event) { called = true }); err == nil || called {
		t.Errorf("a missing --identity: err %v, events sent %v", err, called)
	}
}

// TestSSHConfig: an alias whose HostName, Port, User and IdentityFile come
// from an ssh config file.
func TestSSHConfig(t *testing.T) {
	t.Parallel()
	key, pemKey := sshtest.NewKey(t)
	srv := startServer(t, 3, "carol", key.PublicKey())
	e := newEnvFor(t, srv, key, pemKey)
	keyFile := filepath.Join(t.TempDir(), "carol_key")
	os.Rename(filepath.Join(e.dir, "id_ed25519"), keyFile)
	conf := filepath.Join(e.dir, "config")
	os.WriteFile(conf, []byte(fmt.Sprintf(`
Host db*
    HostName 127.0.0.3
    Port %d
    User carol
    IdentityFile %s

Host *
    User nobody
`, srv.port, strings.Replace(keyFile, "carol", "%r", 1))), 0o600)
	cfg := e.config
	cfg.SSHConfig = conf
	cfg.Port = 0
	rec, _ := run(t, t.Context(), cfg, "db1", "hostname", nil)
	r := rec.result(0)
	if r.Status != StatusOK || rec.output(0, Stdout) != "127.0.0.3\n" || r.User != "carol" ||
		r.Addr != fmt.Sprintf("127.0.0.3:%d", srv.port) {
		t.Errorf("result %+v, output %q", r, rec.output(0, Stdout))
	}
}

func TestPolicyAtRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	conf := filepath.Join(e.dir, "config")
	os.WriteFile(conf, []byte("Host sneaky\n    HostName 192.0.2.1\n"), 0o600)
	cfg := e.config
	cfg.Policy = DefaultPolicy()
	cfg.SSHConfig = conf
	rec, sum := run(t, t.Context(), cfg, "127.0.0.1,192.0.2.7,sneaky,localhost:1", "echo x", nil)
	if r := rec.result(0); r.Status != StatusOK {
		t.Errorf("allowed host: %+v", r)
	}
	for i := 1; i <= 2; i++ {
		if r := rec.result(i); r.Status != StatusDenied || !errors.Is(r.Err, ErrNotAllowed) || !strings.Contains(r.Message(), "--allow-hosts") {
			t.Errorf("host %d: %+v", i, r)
		}
	}
	if r := rec.result(3); r.Status == StatusDenied {
		t.Errorf("localhost denied: %+v", r)
	}
	if sum.ByStatus[StatusDenied] != 2 {
		t.Errorf("summary %+v", sum)
	}
}

// startAgent serves an ssh-agent holding the key on a socket in a
// temporary directory and returns the socket's path.
func startAgent(t testing.TB, pemKey []byte) string {
	t.Helper()
	raw, err := ssh.ParseRawPrivateKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { agent.ServeAgent(keyring, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return path
}

// TestKnownHostsBadLines: a known_hosts line x/crypto cannot parse is
// skipped with a warning, as OpenSSH does, instead of failing the job; a
// changed key still names the original file and line.
func TestKnownHostsBadLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	impostor, _ := sshtest.NewKey(t)
	e.writeKnownHosts(t, "# a comment\n127.0.0.9 ssh-foo AAAAnotakey\n"+
		sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.2]:%d", e.srv.port), impostor.PublicKey())+
		"garbage\n"+sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.1]:%d", e.srv.port), e.srv.hostKeys[0].PublicKey()))
	rec, _ := run(t, t.Context(), e.config, "127.0.0.1-2", "echo x", nil)
	if r := rec.result(0); r.Status != StatusOK {
		t.Errorf("host 1: %+v", r)
	}
	if r := rec.result(1); r.Status != StatusHostKeyChanged || !strings.Contains(r.Message(), e.known+":3") {
		t.Errorf("host 2: %+v", r)
	}
	if len(rec.warnings) != 2 || !strings.Contains(rec.warnings[0], e.known+":2: line ignored") ||
		!strings.Contains(rec.warnings[1], e.known+":4: line ignored") {
		t.Errorf("warnings %q", rec.warnings)
	}
}
