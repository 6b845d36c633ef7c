package batch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// runAsync runs the job in a goroutine; wait returns its recorder and
// how long Run took after cancel was called (or in all, if never).
func runAsync(t *testing.T, ctx context.Context, cfg Config, expr, command string, hook func(Event)) (wait func() (*recorder, time.Duration), cancel func()) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(ctx)
	cfg.Targets, cfg.Command = mustParse(t, expr), command
	rec := newRecorder(t, len(cfg.Targets))
	rec.hook = hook
	done := make(chan struct{})
	var canceledAt time.Time
	start := time.Now()
	go func() {
		defer close(done)
		if _, err := Run(ctx, cfg, rec.handle); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	cancel = func() {
		canceledAt = time.Now()
		cancelCtx()
	}
	wait = func() (*recorder, time.Duration) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("Run did not return")
		}
		cancelCtx()
		if canceledAt.IsZero() {
			canceledAt = start
		}
		return rec, time.Since(canceledAt)
	}
	t.Cleanup(cancelCtx)
	return wait, cancel
}

// TestCancel: with 10 hosts and a fan-out of 5, cancel while five remote
// commands run. The five get SIGTERM and end at once (well within
// KillGrace), the five queued never connect, all finish as canceled, and
// every session and connection closes.
func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	cfg := e.config
	cfg.Fanout = 5
	wait, cancel := runAsync(t, t.Context(), cfg, "127.0.0.1-10", "sleep", nil)
	e.srv.waitFor(t, 20*time.Second, "5 commands running", func() bool { return e.srv.running["sleep"] == 5 })
	cancel()
	rec, took := wait()
	if took >= cfg.KillGrace {
		t.Errorf("Run took %v after cancel; KillGrace is %v", took, cfg.KillGrace)
	}
	wantStatus(t, rec, StatusCanceled)
	started := 0
	for i := range 10 {
		if rec.started[i] {
			started++
		}
		if !errors.Is(rec.result(i).Err, ErrCanceled) {
			t.Errorf("host %d: %v", i, rec.result(i).Err)
		}
	}
	if started != 5 || !rec.summary.Canceled {
		t.Errorf("%d hosts started, summary %+v", started, rec.summary)
	}
	e.srv.waitIdle(t)
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if e.srv.signals["TERM"] != 5 || e.srv.signals["stdin-eof"] != 5 || e.srv.signals["KILL"] != 0 || e.srv.running["sleep"] != 0 {
		t.Errorf("signals %v, running %v", e.srv.signals, e.srv.running)
	}
}

// TestCancelEscalates: a command that ignores SIGTERM gets SIGKILL after
// KillGrace; one that ignores everything has its connection cut.
func TestCancelEscalates(t *testing.T) {
	t.Parallel()
	for _, command := range []string{"ignore", "deaf"} {
		t.Run(command, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 2)
			cfg := e.config
			cfg.KillGrace = 200 * time.Millisecond
			wait, cancel := runAsync(t, t.Context(), cfg, "127.0.0.1-2", command, nil)
			e.srv.waitFor(t, 20*time.Second, "2 commands running", func() bool { return e.srv.running[command] == 2 })
			cancel()
			rec, took := wait()
			wantStatus(t, rec, StatusCanceled)
			if took < cfg.KillGrace || took > 10*time.Second {
				t.Errorf("took %v after cancel, grace %v", took, cfg.KillGrace)
			}
			e.srv.waitIdle(t)
			e.srv.mu.Lock()
			defer e.srv.mu.Unlock()
			if e.srv.signals["TERM"] != 2 || e.srv.signals["KILL"] != 2 || e.srv.running[command] != 0 {
				t.Errorf("signals %v, running %v", e.srv.signals, e.srv.running)
			}
		})
	}
}

func TestCancelWhileConnecting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	addr := e.srv.stall(t, "127.0.0.3")
	cfg := e.config
	cfg.ConnectTimeout = time.Minute
	started := make(chan struct{})
	wait, cancel := runAsync(t, t.Context(), cfg, addr, "echo x", func(ev Event) {
		if ev.Type == EventStarted {
			close(started)
		}
	})
	<-started
	cancel()
	rec, took := wait()
	if r := rec.result(0); r.Status != StatusCanceled || took > 10*time.Second {
		t.Errorf("result %+v after %v", r, took)
	}
}

func TestCanceledBeforeStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rec, sum := run(t, ctx, e.config, "127.0.0.1-3,local", "echo x", nil)
	wantStatus(t, rec, StatusCanceled)
	if len(rec.started) != 0 || sum.Failed != 4 || !sum.Canceled {
		t.Errorf("started %v, summary %+v", rec.started, sum)
	}
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if e.srv.maxConns != 0 {
		t.Errorf("%d connections made", e.srv.maxConns)
	}
}

func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	cfg := e.config
	cfg.CommandTimeout = 300 * time.Millisecond
	start := time.Now()
	rec, sum := run(t, t.Context(), cfg, "127.0.0.1-3", "sleep", nil)
	wantStatus(t, rec, StatusCommandTimeout)
	if r := rec.result(0); !errors.Is(r.Err, ErrCommandTimeout) || r.Duration < cfg.CommandTimeout {
		t.Errorf("result %+v", r)
	}
	if took := time.Since(start); took > 10*time.Second || sum.Canceled {
		t.Errorf("took %v, summary %+v", took, sum)
	}
	e.srv.waitIdle(t)
}

func TestLocal(t *testing.T) {
	t.Parallel()
	rec, _ := run(t, t.Context(), Config{AgentSocket: None}, "local", "echo out; echo err >&2; exit 4", nil)
	r := rec.result(0)
	if r.Status != StatusExit || r.ExitCode != 4 || rec.output(0, Stdout) != "out\n" || rec.output(0, Stderr) != "err\n" ||
		r.Addr != "" || r.Stdout != 4 || r.Stderr != 4 {
		t.Errorf("result %+v, stdout %q, stderr %q", r, rec.output(0, Stdout), rec.output(0, Stderr))
	}
}

func TestLocalSignal(t *testing.T) {
	t.Parallel()
	rec, _ := run(t, t.Context(), Config{}, "local", "kill -SEGV $$", nil)
	if r := rec.result(0); r.Status != StatusSignal || r.Signal != "SEGV" {
		t.Errorf("result %+v", r)
	}
}

func TestLocalTimeout(t *testing.T) {
	t.Parallel()
	rec, _ := run(t, t.Context(), Config{CommandTimeout: 200 * time.Millisecond}, "local", "sleep 300", nil)
	if r := rec.result(0); r.Status != StatusCommandTimeout || r.Duration > 10*time.Second {
		t.Errorf("result %+v", r)
	}
}

// TestLocalCancelKillsGroup: cancelling stops the shell and the child it
// started, not just the shell.
func TestLocalCancelKillsGroup(t *testing.T) {
	t.Parallel()
	pids := make(chan int, 1)
	var lines LineSplitter
	wait, cancel := runAsync(t, t.Context(), Config{}, "local", "sleep 300 & echo $!; wait", func(ev Event) {
		if ev.Type == EventOutput {
			lines.Write(ev.Index, ev.Stream, ev.Data, func(line []byte) {
				if pid, err := strconv.Atoi(string(line)); err == nil {
					pids <- pid
				}
			})
		}
	})
	pid := <-pids
	cancel()
	rec, took := wait()
	if r := rec.result(0); r.Status != StatusCanceled || took > 5*time.Second {
		t.Errorf("result %+v after %v", r, took)
	}
	// Signals are delivered asynchronously: give the child a moment to go.
	sshtest.Eventually(t, 10*time.Second, fmt.Sprintf("the shell's child %d is still running", pid), func() bool { return !sshtest.Alive(pid) })
}

func TestLocalAndRemote(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	rec, sum := run(t, t.Context(), e.config, "local,127.0.0.1", "echo x", nil)
	wantStatus(t, rec, StatusOK)
	if rec.output(0, Stdout) != "x\n" || rec.output(1, Stdout) != "x\n" || sum.OK != 2 {
		t.Errorf("outputs %q %q", rec.output(0, Stdout), rec.output(1, Stdout))
	}
}

func TestLocalDenied(t *testing.T) {
	t.Parallel()
	p, err := ParsePolicy("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := run(t, t.Context(), Config{Policy: p}, "local", "echo x", nil)
	if r := rec.result(0); r.Status != StatusDenied || len(rec.started) != 1 || rec.output(0, Stdout) != "" {
		t.Errorf("result %+v", r)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no targets": {Command: "true"},
		"no command": {Targets: mustParse(t, "local")},
	} {
		if _, err := Run(t.Context(), cfg, func(Event) { t.Errorf("%s: an event was sent", name) }); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestRawCommand: by default the command goes out inside the watchdog;
// RawCommand sends it as it is, and cancelling then relies on the signal.
func TestRawCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	run(t, t.Context(), e.config, "127.0.0.1", "echo it's", nil)
	cfg := e.config
	cfg.RawCommand = true
	wait, cancel := runAsync(t, t.Context(), cfg, "127.0.0.1", "sleep", nil)
	e.srv.waitFor(t, 20*time.Second, "the command running", func() bool { return e.srv.running["sleep"] == 1 })
	cancel()
	rec, _ := wait()
	wantStatus(t, rec, StatusCanceled)
	e.srv.waitIdle(t)
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	if len(e.srv.commands) != 2 || !strings.HasPrefix(e.srv.commands[0], watchdogPrefix) ||
		!strings.HasSuffix(e.srv.commands[0], ` wsdeck 'echo it'\''s' 5`) || e.srv.commands[1] != "sleep" {
		t.Errorf("commands received: %q", e.srv.commands)
	}
	// One end of stdin: the first job's, when its session closed.
	if e.srv.signals["TERM"] != 1 || e.srv.signals["stdin-eof"] != 1 {
		t.Errorf("signals %v", e.srv.signals)
	}
}
