package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// TestHAProxyConfig: haproxy accepts the configuration Config writes.
func TestHAProxyConfig(t *testing.T) {
	bin := testpeer.HAProxy(t)
	conf := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(Config("127.0.0.1:8080", []string{"127.0.0.1:9001", "127.0.0.2:9001"})), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}

// TestNATSKillStart: a server of a 3-server cluster killed with SIGKILL
// (the meta leader, the hardest case) starts again on its ports and store,
// and the cluster is whole again: a meta leader counting all three.
func TestNATSKillStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	c := StartNATS(t, 3, "")
	leader := c.MetaLeader(t)
	leader.Kill()
	if leader.proc.running() {
		t.Fatal("killed, still running")
	}
	c.WaitReady(t) // the two others elect a leader
	if l := c.MetaLeader(t); l == leader {
		t.Fatalf("the killed server %s still leads", l.Name)
	}
	leader.Start(t)
	c.WaitReady(t)
}
