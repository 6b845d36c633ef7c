package batch

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Client is an SSH connection made by Dial, for a caller that runs its own
// sessions on it (an interactive terminal). Close closes the connection.
type Client struct {
	*ssh.Client
	Addr string // the address reached, host:port
	User string // the remote user
}

// Dial connects to h over SSH as Run would, with the same rules: the ssh
// config, keys, known_hosts and the Policy (the name, then every address
// dialled). cfg.Targets and cfg.Command are ignored. The error names the
// host and says what failed; its Status is that of a Result (see
// DialError). When ctx is done during the connect, the connection is cut;
// ctx does not bound the Client once returned.
func Dial(ctx context.Context, cfg Config, h hostexpr.Host) (*Client, error) {
	if h.IsLocal() {
		return nil, fmt.Errorf("batch: %s is not a remote host", h)
	}
	cfg.Targets, cfg.Command = []hostexpr.Host{h}, "-"
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var warnings []string
	j := &job{cfg: &cfg, warn: func(m string) { warnings = append(warnings, m) }}
	if err := j.loadSSH(); err != nil {
		return nil, err
	}
	defer j.keys.close()
	e, err := j.ssh.resolve(h, j.cfg, j.localUser, j.home)
	if err != nil {
		return nil, &DialError{Host: h.String(), Status: StatusError, Err: err}
	}
	if p := cfg.Policy; p != nil {
		for _, name := range []string{h.Name, e.hostname} {
			if !p.AllowName(name) {
				return nil, &DialError{Host: h.String(), Status: StatusDenied,
					Err: fmt.Errorf("%w: %s is outside --allow-hosts (allowed: %s)", ErrNotAllowed, name, p)}
			}
		}
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var verified atomic.Bool
	client, conn, err := j.handshake(dctx, e, &verified)
	if err != nil {
		st, err := classifyConnect(ctx, dctx, err, verified.Load(), cfg.ConnectTimeout.String())
		if len(warnings) > 0 && st == StatusAuthFailed {
			err = fmt.Errorf("%w (%s)", err, warnings[0])
		}
		return nil, &DialError{Host: h.String(), Status: st, Err: err}
	}
	conn.SetDeadline(time.Time{})
	return &Client{Client: client, Addr: e.addr(), User: e.user}, nil
}

// DialError is Dial's error for a host: its class, as a Result's Status,
// and the cause.
type DialError struct {
	Host   string
	Status Status
	Err    error
}

func (e *DialError) Error() string { return e.Host + ": " + e.Status.String() + ": " + e.Err.Error() }

func (e *DialError) Unwrap() error { return e.Err }
