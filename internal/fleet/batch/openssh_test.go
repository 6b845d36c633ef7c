package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// checkClean checks that nothing of a job is left: no goroutine of
// x/crypto/ssh or of the engine, no sshd connection process, no process
// running the command that carries marker.
func checkClean(t testing.TB, s *sshtest.OpenSSH, marker string) {
	t.Helper()
	leakcheck.Check(t, "golang.org/x/crypto/ssh")
	leakcheck.Check(t, "github.com/wsdeck/wsdeck/internal/batch.(*job)")
	sshtest.Eventually(t, 10*time.Second, "sshd connection processes left", func() bool { return len(s.Descendants()) == 0 })
	if marker != "" {
		sshtest.Eventually(t, 10*time.Second, "remote commands left running", func() bool { return len(sshtest.ProcessesWith(marker)) == 0 })
	}
}

// TestOpenSSH runs jobs against the real OpenSSH server on 100 loopback
// addresses: each outcome the engine reports, and nothing left behind.
func TestOpenSSH(t *testing.T) {
	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, 100, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id_ed25519"), keyPEM, 0o600)
	known := filepath.Join(dir, "known_hosts")
	// A wildcard entry covers every address.
	os.WriteFile(known, []byte(sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), hostSigner.PublicKey())), 0o600)
	base := Config{
		Port: srv.Port, SSHDir: dir, AgentSocket: None, SSHConfig: None, KnownHosts: []string{known},
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
		checkClean(t, srv, "")
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
		other, _ := sshtest.NewKey(t)
		cfg := base
		cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
		os.WriteFile(cfg.KnownHosts[0], []byte(sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), other.PublicKey())), 0o600)
		cfg.AcceptNew = true // changes are refused all the same
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1-3", "true", nil)
		wantStatus(t, rec, StatusHostKeyChanged)
	})

	t.Run("hashed known_hosts", func(t *testing.T) {
		cfg := base
		cfg.KnownHosts = []string{filepath.Join(t.TempDir(), "known_hosts")}
		os.WriteFile(cfg.KnownHosts[0], []byte(hashedLine(fmt.Sprintf("127.0.0.5:%d", srv.Port), hostSigner.PublicKey())), 0o600)
		rec, _ := run(t, t.Context(), cfg, "127.0.0.5", "true", nil)
		wantStatus(t, rec, StatusOK)
	})

	t.Run("auth failure", func(t *testing.T) {
		_, strangerPEM := sshtest.NewKey(t)
		cfg := base
		cfg.SSHDir = t.TempDir() // no default keys
		cfg.Identities = []string{filepath.Join(cfg.SSHDir, "stranger")}
		os.WriteFile(cfg.Identities[0], strangerPEM, 0o600)
		rec, _ := run(t, t.Context(), cfg, "127.0.0.1-2", "true", nil)
		wantStatus(t, rec, StatusAuthFailed)
		checkClean(t, srv, "")
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
		checkClean(t, srv, marker)
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
		checkClean(t, srv, marker)
	})
}
