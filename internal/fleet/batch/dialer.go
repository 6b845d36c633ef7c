package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// maxDialerWarnings bounds the warnings a Dialer keeps.
const maxDialerWarnings = 8

// Dialer makes SSH connections to many hosts with one loaded
// configuration: NewDialer reads the ssh config, known_hosts and the keys
// once, and every connection shares them (each keeps them for its
// re-keying, so they are not copied per connection). Its methods are safe
// for concurrent use.
type Dialer struct {
	j     *job
	files []fileStamp // what was read, as it was

	mu       sync.Mutex
	warnings []string // guarded by mu: the first few, for auth failures
}

// fileStamp is a file as it was when read.
type fileStamp struct {
	path   string
	exists bool
	mod    time.Time
	size   int64
}

func stampFile(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{path: path}
	}
	return fileStamp{path: path, exists: true, mod: st.ModTime(), size: st.Size()}
}

// NewDialer reads cfg's SSH files (see Config; Targets and Command are
// ignored). The error is for a file that cannot be used: an unreadable
// --identity or known_hosts, an explicit ssh config that is missing. Close
// releases it (the ssh-agent connection).
func NewDialer(cfg Config) (*Dialer, error) {
	cfg, err := cfg.withSSHDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dialer{}
	d.j = &job{cfg: &cfg, warn: d.warn}
	// Stamped before reading: a change while loading shows as a change.
	var paths []string
	paths = append(paths, cfg.KnownHosts...)
	paths = append(paths, cfg.Identities...)
	for _, k := range defaultKeys {
		paths = append(paths, filepath.Join(cfg.SSHDir, k))
	}
	switch cfg.SSHConfig {
	case None:
	case "":
		paths = append(paths, filepath.Join(cfg.SSHDir, "config"), "/etc/ssh/ssh_config")
	default:
		paths = append(paths, cfg.SSHConfig)
	}
	for _, p := range paths {
		d.files = append(d.files, stampFile(p))
	}
	if err := d.j.loadSSH(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Dialer) warn(msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.warnings) < maxDialerWarnings {
		d.warnings = append(d.warnings, msg)
	}
}

// Changed reports whether a file the Dialer read (known_hosts, the ssh
// config, the key files) has changed, appeared or gone since: then a new
// Dialer sees what the old one does not. Key files named by the ssh
// config's IdentityFile are not watched.
func (d *Dialer) Changed() bool {
	for _, f := range d.files {
		if stampFile(f.path) != f {
			return true
		}
	}
	return false
}

// Close releases the Dialer's ssh-agent connection. Connections made
// already are not affected; later ones cannot use the agent's keys.
func (d *Dialer) Close() { d.j.keys.close() }

// Dial connects to h as the package's Dial does, with the Dialer's
// configuration.
func (d *Dialer) Dial(ctx context.Context, h hostexpr.Host) (*Client, error) {
	c, err := d.DialConn(ctx, h)
	if err != nil {
		return nil, err
	}
	return &Client{Client: ssh.NewClient(c.Conn, c.Chans, c.Reqs), Addr: c.Addr, User: c.User}, nil
}

// Conn is an SSH connection made by DialConn, without the goroutines an
// ssh.Client adds (its global requests, channel opens and close watch):
// the caller opens channels with OpenChannel, and takes the server's
// global requests from Reqs and its channel opens from Chans, answering
// those that want a reply (ssh.DiscardRequests, NewChannel.Reject). Each
// holds a few; while one is full the connection stops reading. Close
// closes it.
type Conn struct {
	ssh.Conn
	Chans <-chan ssh.NewChannel
	Reqs  <-chan *ssh.Request
	Addr  string // the address reached, host:port
	User  string // the remote user
}

// DialConn connects to h as Dial does and returns the bare connection.
func (d *Dialer) DialConn(ctx context.Context, h hostexpr.Host) (*Conn, error) {
	if h.IsLocal() {
		return nil, fmt.Errorf("batch: %s is not a remote host", h)
	}
	j, cfg := d.j, d.j.cfg
	e, err := j.ssh.resolve(h, cfg, j.localUser, j.home)
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
	c, chans, reqs, conn, err := j.handshakeConn(dctx, e, &verified)
	if err != nil {
		st, err := classifyConnect(ctx, dctx, err, verified.Load(), cfg.ConnectTimeout.String())
		d.mu.Lock()
		if len(d.warnings) > 0 && st == StatusAuthFailed {
			err = fmt.Errorf("%w (%s)", err, d.warnings[0])
		}
		d.mu.Unlock()
		return nil, &DialError{Host: h.String(), Status: st, Err: err}
	}
	conn.SetDeadline(time.Time{})
	return &Conn{Conn: c, Chans: chans, Reqs: reqs, Addr: e.addr(), User: e.user}, nil
}
