// Package sshtest provides utilities for tests that talk SSH: keys,
// known_hosts lines, and the real OpenSSH server started on many loopback
// addresses, as net/http/httptest does for HTTP.
//
// StartOpenSSH runs sshd (OpenSSH's server, not an imitation) on
// 127.0.0.1..127.0.0.n, all on one port, with one host key and one
// authorized key, and never beyond loopback. A missing sshd skips the test,
// saying how to install it, unless WSDECK_REQUIRE_PEERS is 1 (as in CI),
// where it fails it (see package testpeer).
//
// Descendants, ProcessesWith, Alive and Eventually let a test check that
// nothing of its sessions is left running on the server side. They read
// /proc, so they work on Linux only.
//
// The package is for tests only: it imports testing.
package sshtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// NewKey returns a new Ed25519 signer and its private key in OpenSSH
// format (PEM), as ssh-keygen writes it: for a host key, or for a client's
// ~/.ssh/id_ed25519.
func NewKey(t testing.TB) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, pem.EncodeToMemory(block)
}

// KnownHostsLine returns a known_hosts line, newline included, for
// hostPattern (as written in the file: a name, a pattern, [name]:port,
// [127.0.0.*]:port) with key.
func KnownHostsLine(hostPattern string, key ssh.PublicKey) string {
	return hostPattern + " " + string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(key))) + "\n"
}

// maxListen is OpenSSH's MAX_LISTEN_SOCKS: one sshd listens on at most 16
// addresses, so 100 loopback addresses take 7 of them.
const maxListen = 16

// OpenSSH is a set of OpenSSH servers started by StartOpenSSH, listening
// on 127.0.0.1..127.0.0.n, all on Port.
type OpenSSH struct {
	Port int // the port every address listens on

	procs []*exec.Cmd
	dir   string
}

// findSSHD returns the path of OpenSSH's sshd, or skips (fails, in CI).
func findSSHD(t testing.TB) string {
	t.Helper()
	path := "/usr/sbin/sshd"
	_, err := os.Stat(path)
	if err != nil {
		var lerr error
		if path, lerr = exec.LookPath("sshd"); lerr == nil {
			err = nil
		}
	}
	testpeer.Need(t, "sshd (OpenSSH server)", "apt install openssh-server", err)
	out, _ := exec.Command(path, "-V").CombinedOutput() // sshd -V prints the version and exits 1
	t.Logf("peer: %s (%s)", strings.TrimSpace(string(out)), path)
	return path
}

// StartOpenSSH starts as many sshd processes as it takes to listen on
// 127.0.0.1..127.0.0.n (16 addresses each), all on one port, with
// hostKeyPEM (an OpenSSH private key, as NewKey returns) and authorizedKey
// (an authorized_keys line, as ssh.MarshalAuthorizedKey returns): the key
// lets in the user running the test (and, when that is root, any user).
// The servers are stopped when t's test and its subtests are done.
func StartOpenSSH(t testing.TB, n int, hostKeyPEM []byte, authorizedKey string) *OpenSSH {
	t.Helper()
	if n < 1 || n > 254 {
		t.Fatalf("StartOpenSSH: %d addresses, want 1 to 254", n)
	}
	bin := findSSHD(t)
	if os.Geteuid() == 0 {
		// sshd run as root wants its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ssh_host_ed25519_key")
	authFile := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keyFile, hostKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(authFile, []byte(authorizedKey), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 5 {
		port := sshdPort(t)
		s := &OpenSSH{Port: port, dir: dir}
		err := s.start(bin, n, keyFile, authFile)
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		s.stop()
		lastErr = err
		t.Logf("sshd on port %d: %v; trying another port", port, err)
	}
	t.Fatalf("could not start sshd: %v", lastErr)
	return nil
}

// sshdPort picks a port below Linux's ephemeral range (32768 and up),
// which outgoing connections never take as their source port, so that a
// busy machine's connections cannot hold it on one of the addresses.
func sshdPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + mrand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

func (s *OpenSSH) start(bin string, n int, keyFile, authFile string) error {
	for first := 1; first <= n; first += maxListen {
		last := min(first+maxListen-1, n)
		conf := filepath.Join(s.dir, fmt.Sprintf("sshd_config.%d", first))
		if err := writeConfig(bin, conf, s.Port, first, last, keyFile, authFile); err != nil {
			return err
		}
		cmd := exec.Command(bin, "-D", "-e", "-f", conf)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		s.procs = append(s.procs, cmd)
		if err := waitListening(stderr, s.Port, last-first+1); err != nil {
			return err
		}
	}
	return nil
}

// writeConfig writes a config listening on 127.0.0.first..last.
// Limits that would throttle a fan-out of 64 on loopback are raised.
// SHLVL=1 stops Debian's bash, the login shell of root, from sourcing
// ~/.bashrc in every session (it does for shells it thinks sshd started
// at level 1): a developer's dotfiles (pyenv init, say) would cost more
// than the connection.
func writeConfig(bin, path string, port, first, last int, keyFile, authFile string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Port %d\n", port)
	for i := first; i <= last; i++ {
		fmt.Fprintf(&b, "ListenAddress 127.0.0.%d\n", i)
	}
	fmt.Fprintf(&b, `HostKey %s
AuthorizedKeysFile %s
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
MaxStartups 2000
PerSourceMaxStartups none
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel INFO
SetEnv SHLVL=1
`, keyFile, authFile)
	base := b.String()
	// OpenSSH 9.8 and later penalise sources that fail authentication;
	// older ones do not know the option.
	withPenalties := base + "PerSourcePenalties no\n"
	if err := os.WriteFile(path, []byte(withPenalties), 0o600); err != nil {
		return err
	}
	if out, err := exec.Command(bin, "-t", "-f", path).CombinedOutput(); err != nil {
		if !strings.Contains(string(out), "PerSourcePenalties") {
			return fmt.Errorf("sshd -t: %v: %s", err, out)
		}
		return os.WriteFile(path, []byte(base), 0o600)
	}
	return nil
}

// waitListening reads sshd's log until it listens on want addresses, then
// drains the rest in the background (it ends when sshd does).
func waitListening(stderr io.Reader, port, want int) error {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	listening := 0
	var log []string
	for listening < want {
		select {
		case line, ok := <-lines:
			if !ok {
				return fmt.Errorf("sshd exited: %s", strings.Join(log, "; "))
			}
			log = append(log, line)
			switch {
			case strings.HasPrefix(line, "Server listening on ") && strings.HasSuffix(line, fmt.Sprintf(" port %d.", port)):
				listening++
			case strings.Contains(line, "Bind to port") && strings.Contains(line, "failed"), strings.Contains(line, "Cannot bind"):
				go drain(lines)
				return errors.New(line)
			}
		case <-timeout.C:
			go drain(lines)
			return fmt.Errorf("sshd not listening after 30s: %s", strings.Join(log, "; "))
		}
	}
	go drain(lines)
	return nil
}

func drain(lines <-chan string) {
	for range lines {
	}
}

func (s *OpenSSH) stop() {
	for _, p := range s.procs {
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}
	s.procs = nil
}

// Descendants returns the processes below the sshd listeners: one group
// per connection, and the commands they run. A test that has closed its
// connections waits (with Eventually) for it to be empty.
func (s *OpenSSH) Descendants() []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[0] != "Z" {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	roots := map[int]bool{}
	for _, p := range s.procs {
		roots[p.Process.Pid] = true
	}
	var out []int
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if roots[p] {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// ProcessesWith returns the live pids, other than the caller's, whose
// command line contains marker: a unique string a test puts in the
// commands it runs (": marker") to find them later.
func ProcessesWith(marker string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), marker) && Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// Alive reports whether process pid exists and is not a zombie.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// Eventually polls cond (the state of other processes, which sends no
// events) with backoff until it holds, failing t with what after d.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(wait)
	}
}
