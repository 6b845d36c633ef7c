package batch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// sshConfig is what the ssh config files say: only HostName, User, Port
// and IdentityFile are used. Parsing is github.com/kevinburke/ssh_config
// (maintained, no dependencies, Host and Match host/all blocks, Include);
// a file it cannot parse (Match exec, say) is ignored with a warning.
type sshConfig struct {
	files []*ssh_config.Config // in order of precedence
}

// loadSSHConfig reads the files spec names (see Config.SSHConfig). A
// missing default file is skipped; a missing file named explicitly is an
// error.
func loadSSHConfig(spec, sshDir string, warn func(string)) (*sshConfig, error) {
	var paths []string
	switch spec {
	case None:
		return &sshConfig{}, nil
	case "":
		paths = []string{filepath.Join(sshDir, "config"), "/etc/ssh/ssh_config"}
	default:
		paths = []string{spec}
	}
	c := &sshConfig{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if spec == "" && os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("ssh config: %w", err)
		}
		f, err := ssh_config.Decode(bytes.NewReader(b))
		if err != nil {
			warn(fmt.Sprintf("ignoring %s: %v", p, err))
			continue
		}
		c.files = append(c.files, f)
	}
	return c, nil
}

func (c *sshConfig) get(alias, key string) string {
	for _, f := range c.files {
		if v, err := f.Get(alias, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

func (c *sshConfig) getAll(alias, key string) []string {
	var all []string
	for _, f := range c.files {
		if v, err := f.GetAll(alias, key); err == nil {
			all = append(all, v...)
		}
	}
	return all
}

// endpoint is where and as whom a target is reached.
type endpoint struct {
	hostname   string // what is dialled and checked in known_hosts
	port       int
	user       string
	identities []string // IdentityFile entries of the ssh config, expanded
}

func (e endpoint) addr() string {
	return hostexpr.Host{Name: e.hostname, Port: e.port}.Addr(DefaultPort)
}

// resolve works out a target's endpoint: user@ and :port from the
// expression first, then Config.User and Config.Port, then the ssh config,
// then the current user and DefaultPort.
func (c *sshConfig) resolve(h hostexpr.Host, cfg *Config, localUser, home string) (endpoint, error) {
	e := endpoint{hostname: h.Name, user: h.User, port: h.Port}
	if v := c.get(h.Name, "HostName"); v != "" {
		e.hostname = strings.ToLower(expandTokens(v, map[byte]string{'h': h.Name}))
	}
	if e.user == "" {
		e.user = cfg.User
	}
	if e.user == "" {
		e.user = c.get(h.Name, "User")
	}
	if e.user == "" {
		e.user = localUser
	}
	if e.port == 0 {
		e.port = cfg.Port
	}
	if e.port == 0 {
		if v := c.get(h.Name, "Port"); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return e, fmt.Errorf("ssh config: bad Port %q for %s", v, h.Name)
			}
			e.port = p
		}
	}
	if e.port == 0 {
		e.port = DefaultPort
	}
	tokens := map[byte]string{
		'h': e.hostname, 'n': h.Name, 'r': e.user, 'u': localUser, 'd': home, 'p': strconv.Itoa(e.port),
	}
	for _, f := range c.getAll(h.Name, "IdentityFile") {
		if strings.EqualFold(f, "none") {
			continue
		}
		f = expandTokens(f, tokens)
		if f == "~" || strings.HasPrefix(f, "~/") {
			f = filepath.Join(home, f[1:])
		}
		e.identities = append(e.identities, f)
	}
	return e, nil
}

// expandTokens replaces %x tokens (and %% by %), as ssh_config(5) does for
// the few that matter here; unknown tokens stay as they are.
func expandTokens(s string, tokens map[byte]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
		} else if v, ok := tokens[s[i]]; ok {
			b.WriteString(v)
		} else {
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
