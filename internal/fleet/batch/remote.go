package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// runRemote runs the command on h over SSH and fills in res.
func (j *job) runRemote(ctx context.Context, h hostexpr.Host, out *output, res *Result) {
	e, err := j.ssh.resolve(h, j.cfg, j.localUser, j.home)
	if err != nil {
		res.Status, res.Err = StatusError, err
		return
	}
	res.Addr, res.User = e.addr(), e.user
	if p := j.cfg.Policy; p != nil {
		for _, name := range []string{h.Name, e.hostname} {
			if !p.AllowName(name) {
				res.Status, res.Err = StatusDenied, fmt.Errorf("%w: %s is outside --allow-hosts (allowed: %s)", ErrNotAllowed, name, p)
				return
			}
		}
	}
	r, status, err := j.connect(ctx, e, out)
	if err != nil {
		res.Status, res.Err = status, err
		return
	}
	defer r.close()

	done := make(chan error, 1)
	go func() { done <- r.sess.Wait() }()
	err, why := j.supervise(ctx, done, r)
	if why != StatusOK {
		j.stopped(res, why)
		return
	}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		res.Status, res.ExitCode = StatusOK, 0
	case errors.As(err, &exit) && exit.Signal() != "":
		res.Status, res.Signal = StatusSignal, exit.Signal()
	case errors.As(err, &exit):
		res.Status, res.ExitCode = StatusExit, exit.ExitStatus()
	case errors.As(err, &missing):
		res.Status, res.Err = StatusError, errors.New("the session ended without an exit status")
	default:
		res.Status, res.Err = StatusError, err
	}
}

// connect dials e, does the handshake and authentication, opens a session
// and starts the command, all within ConnectTimeout: x/crypto/ssh's own
// timeout covers only the TCP connect, so the connection gets a deadline.
// Until the handshake is done, cancelling ctx cuts the connection at once.
// After it, a cancel waits for the command to start (still within the
// deadline), so that supervise can signal it: cutting the connection
// while the exec request is in flight could leave the command running.
// A failure comes with its class.
func (j *job) connect(ctx context.Context, e endpoint, out *output) (*remote, Status, error) {
	dctx, cancel := context.WithTimeout(ctx, j.cfg.ConnectTimeout)
	defer cancel()
	var verified atomic.Bool
	fail := func(err error) (*remote, Status, error) {
		st, err := classifyConnect(ctx, dctx, err, verified.Load(), j.cfg.ConnectTimeout.String())
		return nil, st, err
	}

	client, conn, err := j.handshake(dctx, e, &verified)
	if err != nil {
		return fail(err)
	}
	r := &remote{client: client}
	r.sess, err = client.NewSession()
	if err == nil {
		err = r.start(j.cfg, out)
	}
	if err != nil {
		client.Close()
		return fail(err)
	}
	conn.SetDeadline(time.Time{})
	return r, StatusOK, nil
}

// handshake dials e and does the SSH handshake and authentication within
// dctx's deadline, which the connection carries on return (the caller
// clears it once its session is set up). verified is set once the host key
// passed.
func (j *job) handshake(dctx context.Context, e endpoint, verified *atomic.Bool) (*ssh.Client, net.Conn, error) {
	c, chans, reqs, conn, err := j.handshakeConn(dctx, e, verified)
	if err != nil {
		return nil, nil, err
	}
	return ssh.NewClient(c, chans, reqs), conn, nil
}

// handshakeConn is handshake without the ssh.Client: the bare connection,
// whose requests and channel opens the caller takes.
func (j *job) handshakeConn(dctx context.Context, e endpoint, verified *atomic.Bool) (ssh.Conn, <-chan ssh.NewChannel, <-chan *ssh.Request, net.Conn, error) {
	addr := e.addr()
	conn, err := j.dial(dctx, e)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	deadline, _ := dctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { conn.SetDeadline(time.Unix(1, 0)) })

	config := &ssh.ClientConfig{
		User:              e.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return j.keys.signers(e), nil })},
		HostKeyCallback:   j.hostKeys.callback(verified),
		HostKeyAlgorithms: j.hostKeys.algorithms(addr),
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	if !stop() {
		// The deadline passed or ctx ended: the connection is cut.
		if err == nil {
			c.Close()
			err = dctx.Err()
		}
	}
	if err != nil {
		conn.Close()
		return nil, nil, nil, nil, err
	}
	return c, chans, reqs, conn, nil
}

// remote is a command running over SSH.
type remote struct {
	client *ssh.Client
	sess   *ssh.Session
	stdin  io.WriteCloser // the watchdog's: closing it stops the command; nil for RawCommand
}

func (r *remote) start(cfg *Config, out *output) error {
	r.sess.Stdout, r.sess.Stderr = out.writer(Stdout), out.writer(Stderr)
	command := cfg.Command
	if !cfg.RawCommand {
		command = wrapCommand(command, cfg.KillGrace)
		var err error
		if r.stdin, err = r.sess.StdinPipe(); err != nil {
			return err
		}
	}
	return r.sess.Start(command)
}

// signal stops the command: on TERM the watchdog's stdin is closed, and a
// signal request is sent too (OpenSSH honours it for other users than
// root).
func (r *remote) signal(name string) {
	if r.stdin != nil && name == "TERM" {
		r.stdin.Close()
	}
	r.sess.Signal(ssh.Signal(name))
}

// kill cuts the connection: the server closes the session, and the
// watchdog, seeing stdin end, stops the command if it still runs.
func (r *remote) kill() { r.client.Close() }

func (r *remote) close() {
	r.sess.Close()
	r.client.Close()
}
