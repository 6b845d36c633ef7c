package batch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// mapResolver resolves the names it holds, as a hosts file would.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// TestPolicyChecksDialledAddress: a name the policy allows reaches only
// the addresses the policy's address entries cover, however it resolves
// (here, a hosts file mapping localhost elsewhere, and an ssh config
// HostName); a refused address gets no connection at all.
func TestPolicyChecksDialledAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2) // the server listens on 127.0.0.1 and 127.0.0.2
	e.writeKnownHosts(t, sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", e.srv.port), e.srv.hostKeys[0].PublicKey())+
		sshtest.KnownHostsLine(fmt.Sprintf("[localhost]:%d", e.srv.port), e.srv.hostKeys[0].PublicKey()))
	conf := filepath.Join(e.dir, "config")
	if err := os.WriteFile(conf, []byte("Host sneaky\n    HostName localhost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loopbackOne, err := ParsePolicy("127.0.0.1/32,localhost,sneaky")
	if err != nil {
		t.Fatal(err)
	}
	connections := func() int {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return e.srv.maxConns
	}

	denied := []struct {
		name, target, addr string
		resolves           []netip.Addr
		policy             *Policy
	}{
		{"localhost elsewhere", "localhost", "10.0.0.1", addrs("10.0.0.1"), DefaultPolicy()},
		{"localhost to a listening address outside", "localhost", "127.0.0.2", addrs("127.0.0.2"), loopbackOne},
		{"ssh config HostName", "sneaky", "127.0.0.2", addrs("127.0.0.2"), loopbackOne},
		{"mapped address", "localhost", "127.0.0.2", addrs("::ffff:127.0.0.2"), loopbackOne},
	}
	for _, tc := range denied {
		cfg := e.config
		cfg.Policy, cfg.SSHConfig, cfg.Resolver = tc.policy, conf, mapResolver{"localhost": tc.resolves}
		rec, _ := run(t, t.Context(), cfg, tc.target, "hostname", nil)
		r := rec.result(0)
		if r.Status != StatusDenied || !errors.Is(r.Err, ErrNotAllowed) {
			t.Errorf("%s: %v (%v), want denied", tc.name, r.Status, r.Err)
			continue
		}
		msg := r.Message()
		for _, want := range []string{"localhost", tc.addr, "--allow-hosts", tc.policy.String()} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: the refusal %q does not say %q", tc.name, msg, want)
			}
		}
	}
	if n := connections(); n != 0 {
		t.Fatalf("refused addresses got %d connections", n)
	}

	allowed := []struct {
		name, target, want string
		resolves           []netip.Addr
		policy             *Policy
	}{
		{"localhost on loopback", "localhost", "127.0.0.1", addrs("127.0.0.1"), DefaultPolicy()},
		{"the allowed one of two addresses", "localhost", "127.0.0.1", addrs("10.0.0.1", "127.0.0.1"), DefaultPolicy()},
		{"ssh config HostName on loopback", "sneaky", "127.0.0.1", addrs("127.0.0.1"), loopbackOne},
		{"no policy: the resolver alone", "localhost", "127.0.0.2", addrs("127.0.0.2"), nil},
	}
	for _, tc := range allowed {
		cfg := e.config
		cfg.Policy, cfg.SSHConfig, cfg.Resolver = tc.policy, conf, mapResolver{"localhost": tc.resolves}
		rec, _ := run(t, t.Context(), cfg, tc.target, "hostname", nil)
		if r := rec.result(0); r.Status != StatusOK || rec.output(0, Stdout) != tc.want+"\n" {
			t.Errorf("%s: %v (%v), output %q, want %s", tc.name, r.Status, r.Err, rec.output(0, Stdout), tc.want)
		}
	}
}

// TestPolicyDialUnknownName: a name the resolver does not know is
// unreachable, as before.
func TestPolicyDialUnknownName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	cfg := e.config
	cfg.Policy, cfg.Resolver = DefaultPolicy(), mapResolver{}
	rec, _ := run(t, t.Context(), cfg, "localhost", "hostname", nil)
	if r := rec.result(0); r.Status != StatusUnreachable {
		t.Errorf("%v (%v), want unreachable", r.Status, r.Err)
	}
}

// netnsChild is set in the environment of the test binary that
// TestPolicyHostsFile runs in a namespace of its own.
const netnsChild = "WSDECK_TEST_NETNS_CHILD"

// TestPolicyHostsFile is the probe of issue 10 as it was found: in a
// network and mount namespace whose /etc/hosts maps localhost to
// 10.0.0.1, a job on localhost under the default policy is refused
// without connecting, through the system's own resolver; outside it,
// where localhost is loopback, the same job runs. The namespace needs
// unshare(1) and unprivileged user namespaces: without them the test
// runs only the outside half.
func TestPolicyHostsFile(t *testing.T) {
	inside := os.Getenv(netnsChild) != ""
	if !inside {
		t.Parallel()
	}
	e := newEnv(t, 1)
	e.writeKnownHosts(t, sshtest.KnownHostsLine(fmt.Sprintf("[localhost]:%d", e.srv.port), e.srv.hostKeys[0].PublicKey()))
	cfg := e.config
	cfg.Policy = DefaultPolicy()
	rec, _ := run(t, t.Context(), cfg, "localhost", "hostname", nil)
	r := rec.result(0)
	if inside {
		if r.Status != StatusDenied || !strings.Contains(r.Message(), "localhost resolves to 10.0.0.1") {
			t.Errorf("localhost mapped to 10.0.0.1: %v (%v), want denied", r.Status, r.Err)
		}
		return
	}
	if r.Status != StatusOK || rec.output(0, Stdout) != "127.0.0.1\n" {
		t.Errorf("localhost: %v (%v), output %q", r.Status, r.Err, rec.output(0, Stdout))
	}

	unshare, err := exec.LookPath("unshare")
	testpeer.Need(t, "unshare(1), for the namespace half", "apt-get install util-linux", err)
	if out, err := exec.Command(unshare, "-Urnm", "true").CombinedOutput(); err != nil {
		testpeer.Need(t, "user namespaces, for the namespace half", "a kernel that allows unshare -Urnm",
			fmt.Errorf("unshare -Urnm: %v %s", err, out))
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("10.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), unshare, "-Urnm", "sh", "-ec",
		`mount --bind "$1" /etc/hosts; ip link set lo up 2>/dev/null || true; exec "$2" -test.run='^TestPolicyHostsFile$' -test.v`,
		"sh", hosts, os.Args[0])
	cmd.Env = append(os.Environ(), netnsChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPolicyHostsFile") {
		t.Errorf("in the namespace: %v\n%s", err, out)
	}
}
