package fleetmon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// TestTwoNodes: two nodes of one console (one engine) whose pages watch
// the same hosts cost one session per host, and both pages get every
// host's figures; the sampling node keeps sampling for the other's page
// after its own page leaves, and when it stops, the other node takes the
// hosts over.
func TestTwoNodes(t *testing.T) {
	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, 3, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id_ed25519"), keyPEM, 0o600)
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), hostSigner.PublicKey())), 0o600)

	e := enginetest.Embedded(t)
	opts := Options{
		Beat: 200 * time.Millisecond, Linger: 300 * time.Millisecond,
		SSH: batch.Config{Port: srv.Port, SSHDir: dir, AgentSocket: batch.None, SSHConfig: batch.None,
			KnownHosts: []string{known}, ConnectTimeout: 30 * time.Second, Policy: batch.DefaultPolicy()},
	}
	var fleets []*Fleet
	for _, node := range []string{"n1", "n2"} {
		o := opts
		o.Node = node
		f, err := New(t.Context(), e, o)
		if err != nil {
			t.Fatal(err)
		}
		fleets = append(fleets, f)
	}
	defer func() {
		for _, f := range fleets {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if err := f.Shutdown(ctx); err != nil {
				t.Error(err)
			}
			cancel()
		}
	}()
	hosts, _ := hostexpr.Parse("127.0.0.1-3", nil)
	dialled := func() (n int) {
		for _, f := range fleets {
			for _, h := range hosts {
				n += f.Dialled(h.String())
			}
		}
		return n
	}

	fr1, fr2 := &frames{}, &frames{}
	v1, err := fleets[0].Watch(t.Context(), fr1, hosts)
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "n1's page: 3 hosts up", func() bool { tk, _ := fr1.tick(t); return tk.Counts[0] == 3 })
	v2, err := fleets[1].Watch(t.Context(), fr2, hosts)
	if err != nil {
		t.Fatal(err)
	}
	defer fleets[1].Unwatch(v2)
	poll.Until(t, 30*time.Second, "n2's page: 3 hosts up", func() bool { tk, _ := fr2.tick(t); return tk.Counts[0] == 3 })
	if n := dialled(); n != 3 {
		t.Errorf("two nodes watching 3 hosts dialled %d sessions, want 3", n)
	}
	if a, b := fleets[0].Sampling(), fleets[1].Sampling(); a != 3 || b != 0 {
		t.Errorf("sampling: n1 %d hosts, n2 %d; want 3 and 0", a, b)
	}

	// n1's page leaves: n1 keeps sampling for n2's page (its demand
	// keys live), without a new session.
	fleets[0].Unwatch(v1)
	_, n0 := fr2.tick(t)
	poll.Until(t, 30*time.Second, "n2's page: ticks after n1's page left", func() bool { _, n := fr2.tick(t); return n > n0+3 })
	if tk, _ := fr2.tick(t); tk.Counts[0] != 3 || fleets[0].Sampling() != 3 || dialled() != 3 {
		t.Errorf("after n1's page left: counts %v, n1 samples %d hosts, %d sessions dialled", tk.Counts, fleets[0].Sampling(), dialled())
	}

	// n1 stops: its owner keys go, and n2, whose page still watches,
	// claims the hosts.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := fleets[0].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "n2 sampling the 3 hosts", func() bool { return fleets[1].Sampling() == 3 })
	_, n0 = fr2.tick(t)
	poll.Until(t, 30*time.Second, "n2's page: 3 hosts up again", func() bool {
		tk, n := fr2.tick(t)
		return n > n0+2 && tk.Counts[0] == 3
	})
	if n := dialled(); n != 6 {
		t.Errorf("after the takeover, %d sessions dialled in all, want 6", n)
	}
}
