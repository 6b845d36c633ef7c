package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// DefaultConnectTimeout bounds connecting to the engine at Open when
// Config.ConnectTimeout is zero.
const DefaultConnectTimeout = 5 * time.Second

// DefaultJetStreamWait bounds waiting at Open for an external cluster's
// JetStream to answer when Config.JetStreamWait is zero.
const DefaultJetStreamWait = time.Minute

// Config says which engine to use and how. Its zero value means an
// embedded NATS server with its state under the default state directory,
// reachable only from this process.
type Config struct {
	// StateDir is where the embedded server keeps its JetStream files
	// (StateDir/nats). Empty means $XDG_STATE_HOME/wsdeck, else
	// ~/.local/state/wsdeck. It is created with mode 0700 if absent. It is
	// not used in external mode.
	StateDir string

	// URLs are the NATS servers of an existing deployment
	// (nats://host:4222, tls://host:4222). Empty means embedded mode.
	URLs []string

	// CredsFile is a NATS credentials file (a user JWT and its NKey seed)
	// for external mode. Its contents are never logged.
	CredsFile string

	// TLS files for external mode: CAFile verifies the servers; CertFile
	// and KeyFile are this client's certificate, for servers that require
	// one. Setting any of them requires TLS.
	CAFile, CertFile, KeyFile string

	// ListenAddr is where the embedded server accepts NATS clients
	// (host:port, port 0 picks one). Empty means no listening port: the
	// process connects to its server in-process. Not used in external
	// mode. The port has no authentication and no TLS yet: whoever can
	// reach it can read and change all of wsdeck's state, so bind it to
	// loopback.
	ListenAddr string

	// SyncAlways makes the embedded server fsync every write before it
	// acknowledges it. Without it an acknowledged entry survives the
	// process being killed (it was written to the file) and is fsynced
	// within the server's sync interval (2 minutes), so a power loss can
	// lose the last ones.
	SyncAlways bool

	// ConnectTimeout bounds connecting to external NATS at Open (all URLs
	// together) and each later reconnect attempt's dial, and in both
	// modes the first JetStream request (external: each one, see
	// JetStreamWait). Zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// JetStreamWait bounds waiting at Open, external, for JetStream to
	// answer once a server is reached: a cluster started at the same time
	// answers once it has elected its JetStream leader. Zero means
	// DefaultJetStreamWait.
	JetStreamWait time.Duration

	// ReconnectWait is the pause between reconnect attempts to the same
	// server after the connection is lost. Zero means 2 s.
	ReconnectWait time.Duration

	// Name is this client's connection name, shown by the NATS server's
	// monitoring. Empty means "wsdeck".
	Name string

	// Logger receives the engine's events (ready, connection lost and
	// back, shut down) at Info and Warn, and the embedded server's log:
	// its warnings and errors at Warn and Error, its notices and debug
	// lines at Debug. Nil discards them.
	Logger *slog.Logger
}

// embedded reports whether c selects the embedded server.
func (c *Config) embedded() bool { return len(c.URLs) == 0 }

// withDefaults returns a copy of c with its zero fields filled in.
func (c Config) withDefaults() (Config, error) {
	c.URLs = append([]string(nil), c.URLs...)
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.JetStreamWait <= 0 {
		c.JetStreamWait = DefaultJetStreamWait
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = 2 * time.Second
	}
	if c.Name == "" {
		c.Name = "wsdeck"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.embedded() {
		if c.CredsFile != "" || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" {
			return c, errors.New("credentials and TLS files need external NATS URLs")
		}
		if c.StateDir == "" {
			dir, err := DefaultStateDir()
			if err != nil {
				return c, err
			}
			c.StateDir = dir
		}
	} else if c.ListenAddr != "" {
		return c, errors.New("a listen address is for the embedded server, not with external NATS URLs")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return c, errors.New("a client certificate needs both its certificate and key files")
	}
	return c, nil
}

// DefaultStateDir returns $XDG_STATE_HOME/wsdeck, or ~/.local/state/wsdeck
// when XDG_STATE_HOME is unset or not absolute (as the XDG Base Directory
// specification says to ignore relative paths).
func DefaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "wsdeck"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "wsdeck"), nil
}
