package batch

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultKeys are the key files tried in SSHDir, in OpenSSH's order (less
// the ones x/crypto cannot use without an agent).
var defaultKeys = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// agentDialTimeout bounds connecting to ssh-agent's local socket.
const agentDialTimeout = 2 * time.Second

// keyring holds the keys of a job: loaded once, shared by every
// connection. Safe for concurrent use; the agent client serialises its
// own requests.
type keyring struct {
	explicit []ssh.Signer // Config.Identities
	agent    []ssh.Signer
	defaults []ssh.Signer // SSHDir's default keys
	conn     net.Conn     // to the agent, or nil
	warn     func(string)

	mu     sync.Mutex
	byFile map[string]ssh.Signer // guarded by mu: ssh config IdentityFiles loaded so far (nil: unusable)
}

func newKeyring(cfg *Config, warn func(string)) (*keyring, error) {
	k := &keyring{warn: warn, byFile: map[string]ssh.Signer{}}
	if cfg.AgentSocket != "" && cfg.AgentSocket != None {
		conn, err := net.DialTimeout("unix", cfg.AgentSocket, agentDialTimeout)
		if err != nil {
			warn(fmt.Sprintf("ssh-agent not used: %v", err))
		} else if signers, err := agent.NewClient(conn).Signers(); err != nil {
			conn.Close()
			warn(fmt.Sprintf("ssh-agent not used: %v", err))
		} else {
			k.conn, k.agent = conn, signers
		}
	}
	for _, f := range cfg.Identities {
		s, err := k.load(f)
		if err != nil {
			k.close()
			return nil, err
		}
		if s != nil {
			k.explicit = append(k.explicit, s)
		}
	}
	for _, name := range defaultKeys {
		s, err := k.load(filepath.Join(cfg.SSHDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			warn(err.Error())
			continue
		}
		if s != nil {
			k.defaults = append(k.defaults, s)
		}
	}
	return k, nil
}

// load reads a private key file. A passphrase-protected key returns nil
// and a warning, unless the agent holds it (then it is used from there).
func (k *keyring) load(file string) (ssh.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		if missing.PublicKey != nil && k.inAgent(missing.PublicKey) {
			return nil, nil
		}
		k.warn(fmt.Sprintf("skipping %s: it needs a passphrase (add it to ssh-agent)", file))
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("identity %s: %w", file, err)
	}
	return s, nil
}

func (k *keyring) inAgent(pub ssh.PublicKey) bool {
	for _, s := range k.agent {
		if keysEqual(s.PublicKey(), pub) {
			return true
		}
	}
	return false
}

// signers returns the keys to offer to e, in order: Config.Identities, the
// ssh config's IdentityFiles for it, the agent's, the default files; each
// key once.
func (k *keyring) signers(e endpoint) []ssh.Signer {
	var fromConfig []ssh.Signer
	for _, f := range e.identities {
		k.mu.Lock()
		s, ok := k.byFile[f]
		if !ok {
			var err error
			if s, err = k.load(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				k.warn(err.Error())
			}
			k.byFile[f] = s
		}
		k.mu.Unlock()
		if s != nil {
			fromConfig = append(fromConfig, s)
		}
	}
	var out []ssh.Signer
	seen := map[string]bool{}
	for _, list := range [][]ssh.Signer{k.explicit, fromConfig, k.agent, k.defaults} {
		for _, s := range list {
			id := string(s.PublicKey().Marshal())
			if !seen[id] {
				seen[id] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func (k *keyring) close() {
	if k.conn != nil {
		k.conn.Close()
	}
}
