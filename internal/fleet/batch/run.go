package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// job is one Run: its configuration and what it loaded once for all hosts.
type job struct {
	cfg       *Config
	em        *emitter
	warn      func(string)
	ssh       *sshConfig
	hostKeys  *hostKeys
	keys      *keyring
	localUser string
	home      string
	results   []*Result // one per target, each written by the worker that ran it
}

// Run runs cfg.Command on every target of cfg, at most cfg.Fanout at a
// time, and reports what happens through handle (see the package
// documentation for the events). It returns when every host has finished
// and the EventSummary has been handled.
//
// When ctx is done, hosts not started yet finish as StatusCanceled without
// connecting; running commands get SIGTERM, then after Config.KillGrace
// SIGKILL, and their sessions and connections are closed; connections
// still being set up are cut. Run then returns promptly with the summary.
//
// The error is for a job that cannot start at all (no targets, an
// unreadable --identity or known_hosts file); no event is sent then.
// Per-host failures are in the results, never in the error.
func Run(ctx context.Context, cfg Config, handle func(Event)) (*Summary, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if handle == nil {
		handle = func(Event) {}
	}
	j := &job{cfg: &cfg, em: &emitter{handle: handle}, results: make([]*Result, len(cfg.Targets))}
	// Warnings raised while loading are held until we know the job starts.
	var early []string
	j.warn = func(msg string) { early = append(early, msg) }
	if needsSSH(cfg.Targets) {
		if err := j.loadSSH(); err != nil {
			return nil, err
		}
		defer j.keys.close()
	}
	for _, msg := range early {
		j.em.emit(Event{Type: EventWarning, Index: -1, Message: msg})
	}
	j.warn = func(msg string) { j.em.emit(Event{Type: EventWarning, Index: -1, Message: msg}) }

	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.Fanout, len(cfg.Targets)) {
		wg.Go(func() {
			for i := range next {
				j.runOne(ctx, i)
			}
		})
	}
	sent := 0
feed:
	for ; sent < len(cfg.Targets); sent++ {
		select {
		case next <- sent:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	for i := sent; i < len(cfg.Targets); i++ {
		j.runOne(ctx, i) // finishes at once as canceled
	}
	wg.Wait()

	sum := j.summary(time.Since(start), ctx.Err() != nil)
	j.em.emit(Event{Type: EventSummary, Index: -1, Summary: sum})
	return sum, nil
}

func needsSSH(targets []hostexpr.Host) bool {
	for _, h := range targets {
		if !h.IsLocal() {
			return true
		}
	}
	return false
}

// loadSSH reads what every SSH connection of the job shares.
func (j *job) loadSSH() error {
	cfg := j.cfg
	var err error
	if j.ssh, err = loadSSHConfig(cfg.SSHConfig, cfg.SSHDir, j.warn); err != nil {
		return err
	}
	warn := func(msg string) { j.warn(msg) } // j.warn as it is when called
	if j.hostKeys, err = newHostKeys(cfg.KnownHosts, cfg.AcceptNew, warn); err != nil {
		return err
	}
	if j.keys, err = newKeyring(cfg, warn); err != nil {
		return err
	}
	if len(j.keys.explicit)+len(j.keys.agent)+len(j.keys.defaults) == 0 {
		j.warn(fmt.Sprintf("no SSH key: no usable agent, no --identity, none of %v in %s", defaultKeys, cfg.SSHDir))
	}
	j.localUser = currentUser()
	if j.home, err = os.UserHomeDir(); err != nil {
		j.home = filepath.Dir(cfg.SSHDir)
	}
	return nil
}

// runOne runs target i and reports it.
func (j *job) runOne(ctx context.Context, i int) {
	h := j.cfg.Targets[i]
	res := &Result{Index: i, Host: h.String(), ExitCode: -1, Start: time.Now()}
	j.results[i] = res
	if ctx.Err() != nil {
		res.Status, res.Err = StatusCanceled, ErrCanceled
		j.em.emit(Event{Type: EventFinished, Index: i, Host: res.Host, Result: res})
		return
	}
	j.em.emit(Event{Type: EventStarted, Index: i, Host: res.Host})
	out := &output{em: j.em, index: i, host: res.Host, limit: j.cfg.MaxOutput}
	if h.IsLocal() {
		j.runLocal(ctx, out, res)
	} else {
		j.runRemote(ctx, h, out, res)
	}
	out.flush()
	out.count(res)
	res.Duration = time.Since(res.Start)
	j.em.emit(Event{Type: EventFinished, Index: i, Host: res.Host, Result: res})
}

func (j *job) summary(elapsed time.Duration, canceled bool) *Summary {
	sum := &Summary{Total: len(j.results), ByStatus: map[Status]int{}, Elapsed: elapsed, Canceled: canceled}
	var failed []hostexpr.Host
	for i, r := range j.results {
		sum.ByStatus[r.Status]++
		if r.OK() {
			sum.OK++
		} else {
			sum.Failed++
			failed = append(failed, j.cfg.Targets[i])
		}
	}
	sum.FailedHosts = hostexpr.Fold(failed)
	return sum
}

// supervise waits for a started command to end (done), stopping it when ctx
// is done or CommandTimeout passes: p.signal("TERM"), then after KillGrace
// p.signal("KILL") and p.kill(). It returns the command's end and, if it
// was stopped, why (StatusCanceled or StatusCommandTimeout; else
// StatusOK).
func (j *job) supervise(ctx context.Context, done <-chan error, p stopper) (error, Status) {
	var timeout <-chan time.Time
	if j.cfg.CommandTimeout > 0 {
		t := time.NewTimer(j.cfg.CommandTimeout)
		defer t.Stop()
		timeout = t.C
	}
	var why Status
	select {
	case err := <-done:
		return err, StatusOK
	case <-ctx.Done():
		why = StatusCanceled
	case <-timeout:
		why = StatusCommandTimeout
	}
	p.signal("TERM")
	grace := time.NewTimer(j.cfg.KillGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		return err, why
	case <-grace.C:
	}
	p.signal("KILL")
	p.kill()
	return <-done, why
}

// stopper stops a running command.
type stopper interface {
	signal(name string) // best effort: "TERM", "KILL"
	kill()              // last resort: cut the session, kill the group
}

// stopped fills in res for a command stopped for why.
func (j *job) stopped(res *Result, why Status) {
	res.Status = why
	if why == StatusCommandTimeout {
		res.Err = fmt.Errorf("%w after %v; stopped", ErrCommandTimeout, j.cfg.CommandTimeout)
	} else {
		res.Err = ErrCanceled
	}
}
