package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Term is the TERM every terminal is given: xterm.js is an xterm with 256
// colours.
const Term = "xterm-256color"

// terminal is a shell on a PTY: Read is what it writes, Write what is
// typed. Read is called from one goroutine; Write, Resize and Close from
// any (the session serialises them). Wait returns once the shell has
// ended; Close hangs it up.
type terminal interface {
	io.ReadWriter
	Resize(cols, rows int) error
	Wait() error
	Close() error
}

// sshTerminal is a login shell on a PTY over SSH.
type sshTerminal struct {
	client *batch.Client
	sess   *ssh.Session
	stdin  io.WriteCloser
	stdout io.Reader
}

// openSSH connects to h with cfg's SSH settings and starts a login shell
// on a PTY of the given size.
func openSSH(ctx context.Context, cfg batch.Config, h hostexpr.Host, cols, rows int) (*sshTerminal, error) {
	c, err := batch.Dial(ctx, cfg, h)
	if err != nil {
		return nil, err
	}
	t := &sshTerminal{client: c}
	if err := t.start(cols, rows); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", h, err)
	}
	return t, nil
}

func (t *sshTerminal) start(cols, rows int) error {
	var err error
	if t.sess, err = t.client.NewSession(); err != nil {
		return fmt.Errorf("opening a session: %w", err)
	}
	if t.stdin, err = t.sess.StdinPipe(); err != nil {
		return err
	}
	if t.stdout, err = t.sess.StdoutPipe(); err != nil {
		return err
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := t.sess.RequestPty(Term, rows, cols, modes); err != nil {
		return fmt.Errorf("requesting a PTY: %w", err)
	}
	if err := t.sess.Shell(); err != nil {
		return fmt.Errorf("starting the shell: %w", err)
	}
	return nil
}

func (t *sshTerminal) Read(p []byte) (int, error)  { return t.stdout.Read(p) }
func (t *sshTerminal) Write(p []byte) (int, error) { return t.stdin.Write(p) }
func (t *sshTerminal) Resize(cols, rows int) error { return t.sess.WindowChange(rows, cols) }

// Wait returns when the remote shell has ended.
func (t *sshTerminal) Wait() error {
	err := t.sess.Wait()
	var missing *ssh.ExitMissingError
	if errors.As(err, &missing) {
		return nil // the connection went: the end says so
	}
	return err
}

// Close hangs up: sshd sends SIGHUP to the shell's group when its
// session closes, as when a terminal's line drops.
func (t *sshTerminal) Close() error {
	t.sess.Close()
	return t.client.Close()
}

// localTerminal is a shell on a PTY on the console's own machine.
type localTerminal struct {
	cmd       *exec.Cmd
	pty       *os.File
	hangupFor time.Duration // after the SIGHUP, before the SIGKILL

	mu     sync.Mutex
	hungUp bool        // guarded by mu
	waited bool        // guarded by mu: the shell is reaped, its pid no longer ours
	kill   *time.Timer // guarded by mu
}

// openLocal starts shell (a login shell) on a new PTY of the given size.
// Close sends SIGKILL hangupFor after the SIGHUP if the shell is still
// there.
func openLocal(shell string, cols, rows int, hangupFor time.Duration) (*localTerminal, error) {
	cmd := exec.Command(shell, "-l")
	cmd.Env = append(os.Environ(), "TERM="+Term)
	if home, err := os.UserHomeDir(); err == nil {
		cmd.Dir = home
	}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		return nil, fmt.Errorf("local: starting %s on a PTY: %w", shell, err)
	}
	return &localTerminal{cmd: cmd, pty: f, hangupFor: hangupFor}, nil
}

// Read returns io.EOF once the shell and everything holding the PTY are
// gone (Linux reports EIO then).
func (t *localTerminal) Read(p []byte) (int, error) {
	n, err := t.pty.Read(p)
	if errors.Is(err, syscall.EIO) {
		err = io.EOF
	}
	return n, err
}

func (t *localTerminal) Write(p []byte) (int, error) { return t.pty.Write(p) }
func (t *localTerminal) Resize(cols, rows int) error {
	return pty.Setsize(t.pty, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
}

func (t *localTerminal) Wait() error {
	err := t.cmd.Wait()
	t.mu.Lock()
	t.waited = true
	if t.kill != nil {
		t.kill.Stop()
	}
	t.mu.Unlock()
	return err
}

// Close hangs up: the shell's session (its process group, which the PTY
// started) gets SIGHUP, then the PTY is closed. A shell that ignores
// SIGHUP (as it does when wsdeck was started with SIGHUP ignored, by
// nohup: a child inherits that) gets SIGKILL hangupFor later. Closing the
// PTY alone would not end it: the reader's read holds the PTY open until
// the shell's side closes.
func (t *localTerminal) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hungUp {
		return nil
	}
	t.hungUp = true
	if !t.waited {
		pid := t.cmd.Process.Pid
		syscall.Kill(-pid, syscall.SIGHUP)
		t.kill = time.AfterFunc(t.hangupFor, func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if !t.waited {
				syscall.Kill(-pid, syscall.SIGKILL)
			}
		})
	}
	return t.pty.Close()
}
