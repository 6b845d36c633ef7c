package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// localShell runs the command of a local target.
const localShell = "/bin/sh"

// runLocal runs the command on this machine with /bin/sh -c, in a process
// group of its own so that stopping it stops its children too, with a
// scrubbed environment (see localEnv).
func (j *job) runLocal(ctx context.Context, out *output, res *Result) {
	if p := j.cfg.Policy; p != nil && !p.AllowName("local") {
		res.Status, res.Err = StatusDenied, fmt.Errorf("%w: local is outside --allow-hosts (allowed: %s)", ErrNotAllowed, p)
		return
	}
	cmd := exec.Command(localShell, "-c", j.cfg.Command)
	cmd.Env = localEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = out.writer(Stdout), out.writer(Stderr)
	// Children that leave the group and keep the pipes open must not hold
	// Wait forever.
	cmd.WaitDelay = j.cfg.KillGrace
	newProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		res.Status, res.Err = StatusError, err
		return
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	err, why := j.supervise(ctx, done, localStopper{cmd.Process})
	if why != StatusOK {
		j.stopped(res, why)
		return
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) && !isExitError(err) {
		res.Status, res.Err = StatusError, err
		return
	}
	ps := cmd.ProcessState
	if sig, ok := signalName(ps); ok {
		res.Status, res.Signal = StatusSignal, sig
		return
	}
	res.ExitCode = ps.ExitCode()
	if res.ExitCode == 0 {
		res.Status = StatusOK
	} else {
		res.Status = StatusExit
	}
}

func isExitError(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// localStopper stops a local command's process group.
type localStopper struct{ p *os.Process }

func (s localStopper) signal(name string) { signalGroup(s.p, name) }
func (s localStopper) kill()              { signalGroup(s.p, "KILL") }
