package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsdeck/wsdeck/internal/testkit/poll"
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

// TestDiagnostics: Entries reads stream entries with their message ids,
// with a server of the cluster down, and SaveJSZ writes each running
// server's view of the stream.
func TestDiagnostics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	c := StartNATS(t, 3, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "diag", Subjects: []string{"diag.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"first", "second"} {
		if _, err := js.Publish(ctx, "diag.x", []byte(fmt.Sprint("entry ", i)), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	c.Servers[0].Kill() // the first URL of the list is down
	poll.Until(t, 30*time.Second, "a leader of stream diag", func() bool {
		l, err := c.StreamLeader("diag")
		return err == nil && l != c.Servers[0]
	})
	got, err := c.Entries(ctx, "diag", []uint64{2, 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != 2 || got[0].MsgID != "second" || got[0].Data != "entry 1" ||
		got[1].Seq != 1 || got[1].MsgID != "first" || got[1].Subject != "diag.x" {
		t.Errorf("entries %v", got)
	}

	dir := t.TempDir()
	if err := c.SaveJSZ(dir); err != nil {
		t.Fatal(err)
	}
	for i, s := range c.Servers {
		b, err := os.ReadFile(filepath.Join(dir, "jsz-"+s.Name+".json"))
		if i == 0 {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a /jsz of the server that is down: %v", err)
			}
			continue
		}
		var jsz struct {
			Accounts []struct {
				Streams []struct {
					Name  string `json:"name"`
					State struct {
						Msgs uint64 `json:"messages"`
					} `json:"state"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		if err == nil {
			err = json.Unmarshal(b, &jsz)
		}
		if err != nil || len(jsz.Accounts) != 1 || len(jsz.Accounts[0].Streams) != 1 ||
			jsz.Accounts[0].Streams[0].Name != "diag" || jsz.Accounts[0].Streams[0].State.Msgs != 2 {
			t.Errorf("%s's /jsz: %v, %+v, want stream diag with 2 messages", s.Name, err, jsz)
		}
	}
}
