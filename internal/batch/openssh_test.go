package batch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

	"wsdeck/internal/leakcheck"
	"wsdeck/internal/testpeer"
)

// sshdMaxListen is OpenSSH's MAX_LISTEN_SOCKS: one sshd listens on at most
// 16 addresses, so 100 loopback addresses take 7 of them.
const sshdMaxListen = 16

// sshd is a set of OpenSSH servers started by a test, with one host key
// and one authorized key, listening on 127.0.0.1..127.0.0.n, all on one
// port, and never beyond loopback.
type sshd struct {
	port  int
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

// startSSHD starts enough sshd processes to listen on n loopback
// addresses, with hostKey (OpenSSH PEM) and authorizedKey (a line).
func startSSHD(t testing.TB, n int, hostKey []byte, authorizedKey string) *sshd {
	t.Helper()
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
	if err := os.WriteFile(keyFile, hostKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(authFile, []byte(authorizedKey), 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 5 {
		port := sshdPort(t)
		s := &sshd{port: port, dir: dir}
		err := s.start(t, bin, n, keyFile, authFile)
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
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

func (s *sshd) start(t testing.TB, bin string, n int, keyFile, authFile string) error {
	for first := 1; first <= n; first += sshdMaxListen {
		last := min(first+sshdMaxListen-1, n)
		conf := filepath.Join(s.dir, fmt.Sprintf("sshd_config.%d", first))
		if err := writeSSHDConfig(bin, conf, s.port, first, last, keyFile, authFile); err != nil {
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
		if err := waitListening(stderr, s.port, last-first+1); err != nil {
			return err
		}
	}
	return nil
}

// writeSSHDConfig writes a config listening on 127.0.0.first..last.
// Limits that would throttle a fan-out of 64 on loopback are raised.
// SHLVL=1 stops Debian's bash, the login shell of root, from sourcing
// ~/.bashrc in every session (it does for shells it thinks sshd started
// at level 1): a developer's dotfiles (pyenv init, say) would cost more
// than the connection.
func writeSSHDConfig(bin, path string, port, first, last int, keyFile, authFile string) error {
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

func (s *sshd) stop() {
	for _, p := range s.procs {
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}
	s.procs = nil
}

// descendants returns the processes below the sshd listeners: one group
// per connection, and the commands they run.
func (s *sshd) descendants() []int {
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

// processesWith returns the pids whose command line contains marker.
func processesWith(marker string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), marker) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// eventually polls cond (the state of other processes, which sends no
// events) with backoff until it holds, failing t after d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(wait)
	}
}

// checkClean checks that nothing of a job is left: no goroutine of
// x/crypto/ssh or of the engine, no sshd connection process, no process
// running the command that carries marker.
func (s *sshd) checkClean(t testing.TB, marker string) {
	t.Helper()
	leakcheck.Check(t, "golang.org/x/crypto/ssh")
	leakcheck.Check(t, "wsdeck/internal/batch.(*job)")
	eventually(t, 10*time.Second, "sshd connection processes left", func() bool { return len(s.descendants()) == 0 })
	if marker != "" {
		eventually(t, 10*time.Second, "remote commands left running", func() bool { return len(processesWith(marker)) == 0 })
	}
}

// TestOpenSSH runs jobs against the real OpenSSH server on 100 loopback
// addresses: each outcome the engine reports, and nothing left behind.
func TestOpenSSH(t *testing.T) {
	hostSigner, hostPEM := newKey(t)
	key, keyPEM := newKey(t)
	srv := startSSHD(t, 100, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id_ed25519"), keyPEM, 0o600)
	known := filepath.Join(dir, "known_hosts")
	// A wildcard entry covers every address.
	os.WriteFile(known, []byte(knownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.port), hostSigner.PublicKey())), 0o600)
	base := Config{
		Port: srv.port, SSHDir: dir, AgentSocket: None, SSHConfig: None, KnownHosts: []string{known},
		ConnectTimeout: 30 * time.Second, KillGrace: 5 * time.Second,
	}

	t.Run("100 hosts", func(t *testing.T) {
		start := time.Now()
		rec, sum := run(t, t.Context(), base, "127.0.0.1-100", `set -- $SSH_CONNECTION; echo "$3"`, nil)
		t.Logf("100 hosts in %v", time.Since(start))
		wantStatus(t, rec, StatusOK)
		for i := range 100 {
			if got, want := rec.output(i, Stdout), fmt.Sprintf("127.0.0.%d\n", i+1); got != want {
				t.Errorf("host %d: %q, want %q (the address it reached)", i, got, want)
			}
		}
		if sum.OK != 100 || len(rec.finished) != 100 {
			t.Errorf("summary %v", sum)
		}
		srv.checkClean(t, "")
	})

	t.Run("stdout and stderr", func(t *testing.T) {
		rec, _ := run(t, t.Context(), base, "127.0.0.7", "echo out; echo err >&2", nil)
		if rec.output(0, Stdout) != "out\n" || rec.output(0, Stderr) != "err\n" || !rec.result(0).OK() {
			t.Errorf("%+v: %q %q", rec.result(0), rec.output(0, Stdout), rec.output(0, Stderr))
		}
	})

	t.Run("refused", func(t *testing.T) {
		rec, _ := run(t, t.Context(), base, fmt.Sprintf("127.0.0.1:%d", closedPort(t)), "true", nil)
		wantStatus(t, rec, StatusRefused)
	})

	t.Run("unknown host key", func(t *testing.T) {
		cfg := base
		cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1-3", "true", nil)
		wantStatus(t, rec, StatusHostKeyUnknown)
	})

	t.Run("accept new", func(t *testing.T) {
		cfg := base
		cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
		cfg.AcceptNew = true
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1-3", "true", nil)
		wantStatus(t, rec, StatusOK)
		cfg.AcceptNew = false
		rec, _ = run(t, t.Context(), cfg, "127.0.0.1-3", "true", nil)
		wantStatus(t, rec, StatusOK)
	})

	t.Run("changed host key", func(t *testing.T) {
		other, _ := newKey(t)
		cfg := base
		cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
		os.WriteFile(cfg.KnownHosts[0], []byte(knownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.port), other.PublicKey())), 0o600)
		cfg.AcceptNew = true // changes are refused all the same
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1-3", "true", nil)
		wantStatus(t, rec, StatusHostKeyChanged)
	})

	t.Run("hashed known_hosts", func(t *testing.T) {
		cfg := base
		cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
		os.WriteFile(cfg.KnownHosts[0], []byte(hashedLine(fmt.Sprintf("127.0.0.5:%d", srv.port), hostSigner.PublicKey())), 0o600)
		rec, _ := run(t, t.Context(), cfg, "127.0.0.5", "true", nil)
		wantStatus(t, rec, StatusOK)
	})

	t.Run("auth failure", func(t *testing.T) {
		_, strangerPEM := newKey(t)
		cfg := base
		cfg.SSHDir = t.TempDir() // no default keys
		cfg.Identities = []string{filepath.Join(cfg.SSHDir, "stranger")}
		os.WriteFile(cfg.Identities[0], strangerPEM, 0o600)
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1-2", "true", nil)
		wantStatus(t, rec, StatusAuthFailed)
		srv.checkClean(t, "")
	})

	t.Run("exit 3", func(t *testing.T) {
		rec, sum := run(t, t.Context(), base, "127.0.0.1-5", "exit 3", nil)
		wantStatus(t, rec, StatusExit)
		if rec.result(0).ExitCode != 3 || sum.FailedHosts != "127.0.0.[1-5]" {
			t.Errorf("%+v, summary %v", rec.result(0), sum)
		}
	})

	t.Run("command timeout", func(t *testing.T) {
		cfg := base
		cfg.CommandTimeout = time.Second
		marker := fmt.Sprintf("wsdeck-timeout-%d", time.Now().UnixNano())
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1-4", "sleep 60; : "+marker, nil)
		wantStatus(t, rec, StatusCommandTimeout)
		for i := range 4 {
			if d := rec.result(i).Duration; d > cfg.CommandTimeout+cfg.KillGrace {
				t.Errorf("host %d took %v: SIGTERM did not end it", i, d)
			}
		}
		srv.checkClean(t, marker)
	})

	t.Run("10 MiB", func(t *testing.T) {
		const size = 10 << 20
		rec, _ := run(t, t.Context(), base, "127.0.0.1-2", fmt.Sprintf("head -c %d /dev/zero", size), nil)
		wantStatus(t, rec, StatusOK)
		for i := range 2 {
			r := rec.result(i)
			if len(rec.output(i, Stdout)) != DefaultMaxOutput || r.Stdout != size || r.Dropped != size-DefaultMaxOutput || rec.capped[i] != 1 {
				t.Errorf("host %d: delivered %d, %+v, capped %d", i, len(rec.output(i, Stdout)), r, rec.capped[i])
			}
		}
	})

	t.Run("cancel", func(t *testing.T) {
		const n = 32
		marker := fmt.Sprintf("wsdeck-cancel-%d", time.Now().UnixNano())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		started := 0
		var canceledAt time.Time
		rec, sum := run(t, ctx, base, fmt.Sprintf("127.0.0.1-%d", n), "echo started; sleep 300; : "+marker, func(ev Event) {
			if ev.Type == EventOutput && string(ev.Data) == "started\n" {
				if started++; started == n {
					canceledAt = time.Now()
					cancel() // every command is running
				}
			}
		})
		took := time.Since(canceledAt)
		if canceledAt.IsZero() {
			t.Fatalf("not every host started: %v", sum)
		}
		wantStatus(t, rec, StatusCanceled)
		if took >= base.KillGrace {
			t.Errorf("Run returned %v after cancel: SIGTERM did not end the commands", took)
		}
		t.Logf("%d hosts cancelled in %v", n, took)
		srv.checkClean(t, marker)
	})
}
