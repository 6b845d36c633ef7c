package batch

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"time"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Defaults for the zero values of Config.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultFanout         = 64
	DefaultMaxOutput      = 1 << 20 // bytes per host
	DefaultKillGrace      = 2 * time.Second
	DefaultPort           = 22
)

// None, as Config.AgentSocket or Config.SSHConfig, turns the agent or the
// ssh config files off.
const None = "none"

// Config describes a job. Targets and Command are required; the zero value
// of every other field means its default. Run does not modify it.
type Config struct {
	Targets []hostexpr.Host
	Command string // run by the remote user's shell; locally by /bin/sh -c

	// User and Port apply to targets written without user@ or :port.
	// Empty and 0 mean the ssh config's User and Port, else the current
	// user and DefaultPort.
	User string
	Port int

	// Identities are private key files tried first (--identity). The
	// agent's keys come next, then the default keys in SSHDir (id_ed25519,
	// id_ecdsa, id_rsa). Passphrase-protected files are skipped with a
	// warning: load them into ssh-agent.
	Identities []string
	// AgentSocket is the ssh-agent socket: "" means $SSH_AUTH_SOCK, None
	// means no agent.
	AgentSocket string
	// SSHDir is where the default keys, known_hosts and config are: ""
	// means ~/.ssh.
	SSHDir string
	// KnownHosts are the known_hosts files. nil means SSHDir/known_hosts
	// and /etc/ssh/ssh_known_hosts. Missing files count as empty.
	KnownHosts []string
	// AcceptNew trusts the key of a host that known_hosts does not know,
	// and appends it to the first KnownHosts file. A key that differs from
	// a known one is refused all the same.
	AcceptNew bool
	// SSHConfig is the ssh config file for HostName, User, Port and
	// IdentityFile: "" means SSHDir/config, then /etc/ssh/ssh_config;
	// None means none.
	SSHConfig string

	// ConnectTimeout bounds connecting, the SSH handshake and
	// authentication together. 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// CommandTimeout, if positive, stops a command that runs longer.
	CommandTimeout time.Duration
	// KillGrace is how long a command may take to exit after SIGTERM (on
	// cancellation or timeout) before SIGKILL and closing the session.
	// 0 means DefaultKillGrace.
	KillGrace time.Duration
	// Fanout is the most hosts running at once. 0 means DefaultFanout.
	Fanout int
	// MaxOutput caps the bytes of stdout and stderr together delivered per
	// host, cutting between lines; the rest is counted and dropped. 0
	// means DefaultMaxOutput.
	MaxOutput int64

	// RawCommand sends Command to the server as it is. By default it is
	// wrapped in a small /bin/sh watchdog that ends the command when the
	// job is cancelled or the connection drops (see watchdog.go): OpenSSH
	// ignores signal requests in root's sessions. Set it for servers
	// without /bin/sh; cancelling then relies on signals alone.
	RawCommand bool

	// Policy, if set, is checked for each target's name and for the name
	// the ssh config gives it before connecting, and for each address
	// dialled just before the connection is made (see Policy).
	Policy *Policy
	// Resolver looks up the addresses of host names. nil means
	// net.DefaultResolver: the system's (/etc/hosts, DNS).
	Resolver Resolver
}

// withDefaults returns a copy of c with the defaults filled in.
func (c Config) withDefaults() (Config, error) {
	c.Targets = slices.Clone(c.Targets)
	if len(c.Targets) == 0 {
		return c, errors.New("batch: no targets")
	}
	if c.Command == "" {
		return c, errors.New("batch: no command")
	}
	return c.withSSHDefaults()
}

// withSSHDefaults fills in the defaults of the fields a connection uses
// (all but Targets and Command), in c, a copy.
func (c Config) withSSHDefaults() (Config, error) {
	c.Identities = slices.Clone(c.Identities)
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("batch: port %d out of range", c.Port)
	}
	if c.SSHDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return c, err
		}
		c.SSHDir = filepath.Join(home, ".ssh")
	}
	if c.KnownHosts == nil {
		c.KnownHosts = []string{filepath.Join(c.SSHDir, "known_hosts"), "/etc/ssh/ssh_known_hosts"}
	} else {
		c.KnownHosts = slices.Clone(c.KnownHosts)
	}
	if c.AgentSocket == "" {
		c.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KillGrace <= 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.Fanout <= 0 {
		c.Fanout = DefaultFanout
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	return c, nil
}

// currentUser returns the name of the user running the process.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}
