package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of ours or of x/crypto/ssh (a
// client connection's, sshd's log reader) outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, substr := range []string{"github.com/wsdeck/wsdeck/", "golang.org/x/crypto/ssh"} {
		if leaked := leakcheck.Leaked(substr, leakcheck.Wait); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "%d goroutine(s) mentioning %s left running after the tests:\n\n%s\n",
				len(leaked), substr, strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

func TestNewKey(t *testing.T) {
	signer, pemKey := NewKey(t)
	if !bytes.HasPrefix(pemKey, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("not an OpenSSH private key:\n%s", pemKey)
	}
	parsed, err := ssh.ParsePrivateKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parsed.PublicKey().Marshal(), signer.PublicKey().Marshal(); !bytes.Equal(got, want) {
		t.Error("the PEM key is not the signer's")
	}
	if typ := signer.PublicKey().Type(); typ != ssh.KeyAlgoED25519 {
		t.Errorf("key type %s", typ)
	}
	other, _ := NewKey(t)
	if bytes.Equal(other.PublicKey().Marshal(), signer.PublicKey().Marshal()) {
		t.Error("two calls returned the same key")
	}
}

func TestKnownHostsLine(t *testing.T) {
	signer, _ := NewKey(t)
	key := signer.PublicKey()
	line := KnownHostsLine("[127.0.0.*]:2222", key)
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Errorf("%q is not one line", line)
	}
	_, hosts, parsed, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hosts, []string{"[127.0.0.*]:2222"}) || !bytes.Equal(parsed.Marshal(), key.Marshal()) {
		t.Errorf("parsed %q: hosts %v, key %s", line, hosts, ssh.FingerprintSHA256(parsed))
	}
}

func TestAliveAndEventually(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if !Alive(os.Getpid()) {
		t.Error("Alive(own pid) = false")
	}
	if Alive(-1) {
		t.Error("Alive(-1) = true")
	}
	n := 0
	Eventually(t, 10*time.Second, "never 3", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}

// TestOpenSSH starts sshd on 20 addresses (two processes: 16 addresses
// each at most), runs a command on each address and checks that it ran on
// the address dialled, then that a session's processes are found while
// it runs and are gone once it closes.
func TestOpenSSH(t *testing.T) {
	const n = 20
	hostKey, hostPEM := NewKey(t)
	clientKey, _ := NewKey(t)
	srv := StartOpenSSH(t, n, hostPEM, string(ssh.MarshalAuthorizedKey(clientKey.PublicKey())))
	if srv.Port < 20000 || srv.Port >= 32768 {
		t.Errorf("port %d, want one below the ephemeral range", srv.Port)
	}
	if got := len(srv.procs); got != 2 {
		t.Errorf("%d sshd processes for %d addresses, want 2", got, n)
	}

	known := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(known, []byte(KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), hostKey.PublicKey())), 0o600); err != nil {
		t.Fatal(err)
	}
	hostKeyCallback, err := knownhosts.New(known)
	if err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	config := &ssh.ClientConfig{
		User:            me.Username,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(clientKey)},
		HostKeyCallback: hostKeyCallback,
		Timeout:         30 * time.Second,
	}
	dial := func(t *testing.T, ip string) *ssh.Client {
		t.Helper()
		c, err := ssh.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(srv.Port)), config)
		if err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		return c
	}

	t.Run("every address", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := 1; i <= n; i++ {
			ip := fmt.Sprintf("127.0.0.%d", i)
			wg.Go(func() {
				c, err := ssh.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(srv.Port)), config)
				if err != nil {
					t.Errorf("%s: %v", ip, err)
					return
				}
				defer c.Close()
				s, err := c.NewSession()
				if err != nil {
					t.Errorf("%s: %v", ip, err)
					return
				}
				defer s.Close()
				out, err := s.CombinedOutput(`set -- $SSH_CONNECTION; echo "$3"`)
				if got := strings.TrimSpace(string(out)); err != nil || got != ip {
					t.Errorf("dialled %s: server address %q (%v), want %s", ip, got, err, ip)
				}
			})
		}
		wg.Wait()
		Eventually(t, 10*time.Second, "sshd connection processes left", func() bool { return len(srv.Descendants()) == 0 })
	})

	t.Run("unknown key", func(t *testing.T) {
		stranger, _ := NewKey(t)
		cfg := *config
		cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(stranger)}
		c, err := ssh.Dial("tcp", net.JoinHostPort("127.0.0.3", strconv.Itoa(srv.Port)), &cfg)
		if err == nil {
			c.Close()
			t.Fatal("a key that is not authorized got in")
		}
	})

	t.Run("processes", func(t *testing.T) {
		c := dial(t, "127.0.0.17") // the second sshd's
		defer c.Close()
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stdin, err := s.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		// A shell builtin waiting for input: it ends when stdin does,
		// and leaves no child behind.
		marker := fmt.Sprintf("wsdeck-sshtest-%d", time.Now().UnixNano())
		if err := s.Start("read x; : " + marker); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 10*time.Second, "the command is not running", func() bool { return len(ProcessesWith(marker)) == 1 })
		pid := ProcessesWith(marker)[0]
		if !Alive(pid) || !slices.Contains(srv.Descendants(), pid) {
			t.Errorf("command %d: alive %v, below sshd %v", pid, Alive(pid), slices.Contains(srv.Descendants(), pid))
		}
		stdin.Close()
		if err := s.Wait(); err != nil {
			t.Errorf("the command: %v", err)
		}
		c.Close()
		Eventually(t, 10*time.Second, "the command left running", func() bool { return len(ProcessesWith(marker)) == 0 })
		Eventually(t, 10*time.Second, "sshd connection processes left", func() bool { return len(srv.Descendants()) == 0 })
		if Alive(pid) {
			t.Errorf("command %d still alive", pid)
		}
	})
}
