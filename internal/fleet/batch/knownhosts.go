package batch

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is why a host's key was refused.
type HostKeyError struct {
	Status Status                // StatusHostKeyUnknown, StatusHostKeyChanged or StatusHostKeyRevoked
	Host   string                // host:port as checked
	Key    ssh.PublicKey         // the key the server offered
	Known  []knownhosts.KnownKey // StatusHostKeyChanged: the keys known_hosts holds for the host
	Files  []string              // the known_hosts files consulted
}

func (e *HostKeyError) Error() string {
	offered := e.Key.Type() + " " + ssh.FingerprintSHA256(e.Key)
	switch e.Status {
	case StatusHostKeyChanged:
		var known []string
		for _, k := range e.Known {
			where := "accepted earlier in this job"
			if k.Filename != "" {
				where = fmt.Sprintf("%s:%d", k.Filename, k.Line)
			}
			known = append(known, fmt.Sprintf("%s %s at %s", k.Key.Type(), ssh.FingerprintSHA256(k.Key), where))
		}
		return fmt.Sprintf("HOST KEY CHANGED for %s: it offered %s, known_hosts has %s; refusing to connect "+
			"(someone may be intercepting the connection, or the host was reinstalled: if so, remove the old line)",
			e.Host, offered, strings.Join(known, ", "))
	case StatusHostKeyRevoked:
		return fmt.Sprintf("host key of %s is revoked in known_hosts: it offered %s", e.Host, offered)
	}
	return fmt.Sprintf("host key unknown: %s offered %s, which is not in %s (--accept-new trusts a new host on first use)",
		e.Host, offered, strings.Join(e.Files, ", "))
}

// hostKeys checks servers' keys against known_hosts files, with x/crypto's
// knownhosts for the file format (hashed entries, wildcard and negated
// patterns, [host]:port, @cert-authority, @revoked). On top of it:
// missing files count as empty; host names are compared in lower case, as
// OpenSSH does; keys trusted on first use are recorded and remembered for
// the rest of the job; and the key types known for a host are preferred in
// the handshake, so a host known by its ECDSA key is not reported changed
// because it offered Ed25519 first. Safe for concurrent use.
type hostKeys struct {
	files     []string // the files that exist, read at the start
	all       []string // every file configured, for messages
	write     string   // where AcceptNew appends: the first file configured
	acceptNew bool
	db        ssh.HostKeyCallback // nil when no file exists
	probe     ssh.PublicKey       // a key no file holds, to ask what a host's keys are
	warn      func(string)

	renamed map[string]string // temporary copies made by tolerant, to the files' names

	mu    sync.Mutex
	added map[string][]ssh.PublicKey // guarded by mu: keys accepted in this job, by knownhosts.Normalize(host:port)
}

func newHostKeys(files []string, acceptNew bool, warn func(string)) (*hostKeys, error) {
	hk := &hostKeys{all: files, acceptNew: acceptNew, warn: warn, added: map[string][]ssh.PublicKey{}}
	if len(files) > 0 {
		hk.write = files[0]
	}
	for _, f := range files {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		hk.files = append(hk.files, f)
	}
	if len(hk.files) > 0 {
		db, err := knownhosts.New(hk.files...)
		if err != nil {
			db, err = hk.tolerant()
		}
		if err != nil {
			return nil, err
		}
		hk.db = db
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	if hk.probe, err = ssh.NewPublicKey(pub); err != nil {
		return nil, err
	}
	return hk, nil
}

// badLine finds the file and line in an error of knownhosts.New:
// "knownhosts: FILE:LINE: ...".
var badLine = regexp.MustCompile(`^knownhosts: (.*):(\d+): `)

// tolerant loads the files as OpenSSH does when some lines are bad (an
// unknown key type, a corrupt entry): it skips those lines with a
// warning, where x/crypto's knownhosts.New refuses the whole file. It
// copies the files to a temporary directory with the bad lines blanked
// (line numbers kept), and reports known keys under the original names.
func (hk *hostKeys) tolerant() (ssh.HostKeyCallback, error) {
	dir, err := os.MkdirTemp("", "wsdeck-known-hosts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	hk.renamed = map[string]string{}
	contents := map[string][]string{}
	var copies []string
	for i, f := range hk.files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("known_hosts: %w", err)
		}
		c := filepath.Join(dir, strconv.Itoa(i))
		contents[c] = strings.Split(string(b), "\n")
		hk.renamed[c] = f
		copies = append(copies, c)
	}
	for range 10000 {
		for _, c := range copies {
			if err := os.WriteFile(c, []byte(strings.Join(contents[c], "\n")), 0o600); err != nil {
				return nil, err
			}
		}
		db, err := knownhosts.New(copies...)
		if err == nil {
			return db, nil
		}
		m := badLine.FindStringSubmatch(err.Error())
		if m == nil || contents[m[1]] == nil {
			return nil, err
		}
		n, _ := strconv.Atoi(m[2])
		lines := contents[m[1]]
		if n < 1 || n > len(lines) || lines[n-1] == "" {
			return nil, err
		}
		lines[n-1] = ""
		hk.warn(fmt.Sprintf("%s:%d: line ignored: %s", hk.renamed[m[1]], n, strings.TrimPrefix(err.Error(), m[0])))
	}
	return nil, errors.New("known_hosts: too many bad lines")
}

// fakeAddr stands in for the remote address when asking the database: the
// host name given is what is checked.
var fakeAddr = &net.TCPAddr{IP: net.IPv4(0, 0, 0, 0), Port: 22}

// known returns the keys known_hosts holds for hostport.
func (hk *hostKeys) known(hostport string) []ssh.PublicKey {
	var keys []ssh.PublicKey
	if hk.db != nil {
		var ke *knownhosts.KeyError
		if err := hk.db(hostport, fakeAddr, hk.probe); errors.As(err, &ke) {
			for _, k := range ke.Want {
				keys = append(keys, k.Key)
			}
		}
	}
	hk.mu.Lock()
	keys = append(keys, hk.added[knownhosts.Normalize(hostport)]...)
	hk.mu.Unlock()
	return keys
}

// algorithms returns the host key algorithms to offer for hostport: those
// of the key types known for it first, then the rest; nil (the default)
// for an unknown host.
func (hk *hostKeys) algorithms(hostport string) []string {
	var algos []string
	for _, k := range hk.known(hostport) {
		for _, a := range algorithmsForKeyType(k.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	if algos == nil {
		return nil
	}
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		if !slices.Contains(algos, a) {
			algos = append(algos, a)
		}
	}
	return algos
}

// algorithmsForKeyType returns the signature algorithms for a key type.
func algorithmsForKeyType(t string) []string {
	switch t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}
	}
	return []string{t}
}

// callback returns the HostKeyCallback for one connection; it sets
// verified when it accepts the key.
func (hk *hostKeys) callback(verified *atomic.Bool) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		host, port, err := net.SplitHostPort(hostname)
		if err != nil {
			return err
		}
		hostname = net.JoinHostPort(strings.ToLower(host), port)
		if err := hk.check(hostname, remote, key); err != nil {
			return err
		}
		verified.Store(true)
		return nil
	}
}

func (hk *hostKeys) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	var err error = &knownhosts.KeyError{}
	if hk.db != nil {
		err = hk.db(hostname, remote, key)
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return &HostKeyError{Status: StatusHostKeyRevoked, Host: hostname, Key: key, Files: hk.all}
	case errors.As(err, &ke) && len(ke.Want) > 0:
		known := slices.Clone(ke.Want)
		for i := range known {
			if name, ok := hk.renamed[known[i].Filename]; ok {
				known[i].Filename = name
			}
		}
		return &HostKeyError{Status: StatusHostKeyChanged, Host: hostname, Key: key, Known: known, Files: hk.all}
	case ke == nil:
		// A certificate that fails its checks, or a malformed address.
		return fmt.Errorf("host key of %s: %w", hostname, err)
	}

	// Unknown to the files: maybe accepted earlier in this job.
	norm := knownhosts.Normalize(hostname)
	hk.mu.Lock()
	defer hk.mu.Unlock()
	if added := hk.added[norm]; len(added) > 0 {
		for _, k := range added {
			if keysEqual(k, key) {
				return nil
			}
		}
		known := make([]knownhosts.KnownKey, len(added))
		for i, k := range added {
			known[i] = knownhosts.KnownKey{Key: k}
		}
		return &HostKeyError{Status: StatusHostKeyChanged, Host: hostname, Key: key, Known: known, Files: hk.all}
	}
	if !hk.acceptNew || hk.write == "" {
		return &HostKeyError{Status: StatusHostKeyUnknown, Host: hostname, Key: key, Files: hk.all}
	}
	if err := appendKnownHost(hk.write, norm, key); err != nil {
		return fmt.Errorf("recording the host key of %s: %w", hostname, err)
	}
	hk.added[norm] = append(hk.added[norm], key)
	if hk.warn != nil {
		hk.warn(fmt.Sprintf("added %s %s for %s to %s (first use)", key.Type(), ssh.FingerprintSHA256(key), norm, hk.write))
	}
	return nil
}

// appendKnownHost appends a line for host to the file in one write to a
// file opened O_APPEND, so concurrent writers do not interleave, and syncs.
func appendKnownHost(file, host string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(knownhosts.Line([]string{host}, key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func keysEqual(a, b ssh.PublicKey) bool {
	return a.Type() == b.Type() && string(a.Marshal()) == string(b.Marshal())
}
