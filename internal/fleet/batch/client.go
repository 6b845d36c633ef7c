package batch

import (
	"context"
	"fmt"

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
// ctx does not bound the Client once returned. It reads cfg's files for
// this one connection: a caller that makes many uses a Dialer.
func Dial(ctx context.Context, cfg Config, h hostexpr.Host) (*Client, error) {
	if h.IsLocal() {
		return nil, fmt.Errorf("batch: %s is not a remote host", h)
	}
	d, err := NewDialer(cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Dial(ctx, h)
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
