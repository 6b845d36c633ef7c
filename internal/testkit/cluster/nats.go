package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// NATS is a cluster of nats-server processes with JetStream, on loopback.
type NATS struct {
	Servers []*NATSServer
}

// NATSServer is one server of a NATS cluster. Kill and Start may be called
// from the test's goroutine only.
type NATSServer struct {
	Name        string // its server_name: n1, n2, ...
	Port        int    // client port on 127.0.0.1
	ClusterPort int    // route port on 127.0.0.1
	HTTPPort    int    // monitoring port on 127.0.0.1 (/healthz, /jsz)

	owner testing.TB // the test that started the cluster: it outlives restarts
	bin   string
	conf  string
	log   string
	proc  *proc // guarded by the test's goroutine
}

// StartNATS starts n nats-servers (n ≥ 1) clustered with one another on
// 127.0.0.1, each with JetStream on file storage in a directory of its
// own (4 GB allowed: JetStream reserves each stream's byte limit up
// front), and waits until JetStream has a meta leader that counts them
// all (before that, placement refuses streams of n replicas). Server logs
// go to dir (t.TempDir() if empty).
func StartNATS(t testing.TB, n int, dir string) *NATS {
	t.Helper()
	bin := testpeer.NATSServer(t)
	if dir == "" {
		dir = t.TempDir()
	}
	c := &NATS{}
	for i := range n {
		c.Servers = append(c.Servers, &NATSServer{
			Name: fmt.Sprint("n", i+1), Port: FreePort(t), ClusterPort: FreePort(t), HTTPPort: FreePort(t),
			owner: t, bin: bin,
		})
	}
	var routes []string
	for _, s := range c.Servers {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", s.ClusterPort))
	}
	for _, s := range c.Servers {
		store := filepath.Join(dir, s.Name+"-store")
		s.conf = filepath.Join(dir, s.Name+".conf")
		s.log = filepath.Join(dir, "nats-"+s.Name+".log")
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 4GB
}
`, s.Name, s.Port, s.HTTPPort, store)
		if n > 1 {
			conf += fmt.Sprintf(`cluster {
  name: wsdeck-test
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, s.ClusterPort, strings.Join(routes, ", "))
		}
		if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range c.Servers {
		s.proc = startProc(t, t, s.log, s.bin, "-c", s.conf)
	}
	c.WaitReady(t)
	return c
}

// URLs returns the client URLs of all the servers, comma-separated, as
// wsdeck's --nats takes them.
func (c *NATS) URLs() string {
	var urls []string
	for _, s := range c.Servers {
		urls = append(urls, s.URL())
	}
	return strings.Join(urls, ",")
}

// WaitReady waits until every running server is healthy and JetStream has
// a meta leader that counts every running server as current.
func (c *NATS) WaitReady(t testing.TB) {
	t.Helper()
	var running []*NATSServer
	for _, s := range c.Servers {
		if s.proc.running() {
			running = append(running, s)
		}
	}
	if len(running) == 0 {
		t.Fatal("cluster: no NATS server is running")
	}
	running[0].proc.waitReady(t, "JetStream meta leader counting every running server", func() error {
		for _, s := range running {
			if err := s.healthz(); err != nil {
				return err
			}
		}
		if len(c.Servers) == 1 {
			return nil
		}
		leader, err := c.metaLeader(running)
		if err != nil {
			return err
		}
		meta, err := leader.jsz()
		if err != nil {
			return err
		}
		current := 1 // the leader
		for _, r := range meta.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		if current < len(running) {
			return fmt.Errorf("meta leader %s counts %d current servers of %d", leader.Name, current, len(running))
		}
		return nil
	})
}

// MetaLeader returns the server that leads JetStream's meta group now.
func (c *NATS) MetaLeader(t testing.TB) *NATSServer {
	t.Helper()
	var running []*NATSServer
	for _, s := range c.Servers {
		if s.proc.running() {
			running = append(running, s)
		}
	}
	l, err := c.metaLeader(running)
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	return l
}

func (c *NATS) metaLeader(running []*NATSServer) (*NATSServer, error) {
	var names []string
	for _, s := range running {
		meta, err := s.jsz()
		if err != nil {
			return nil, err
		}
		if meta.Leader == s.Name {
			return s, nil
		}
		names = append(names, s.Name+" says "+meta.Leader)
	}
	return nil, fmt.Errorf("no running server leads the meta group (%s)", strings.Join(names, ", "))
}

// URL returns the server's client URL.
func (s *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// Kill kills the server with SIGKILL and waits until it is gone.
func (s *NATSServer) Kill() { s.proc.kill() }

// Start starts a killed server again, on the same ports and store, and
// waits until it answers /healthz (JetStream caught up). The process lasts
// until the test that started the cluster is done, even when a subtest
// starts it again.
func (s *NATSServer) Start(t testing.TB) {
	t.Helper()
	if s.proc.running() {
		t.Fatalf("cluster: NATS server %s is running", s.Name)
	}
	s.proc = startProc(t, s.owner, s.log, s.bin, "-c", s.conf)
	s.proc.waitReady(t, "/healthz ok", s.healthz)
}

var monitorClient = &http.Client{Timeout: 5 * time.Second}

// monitor GETs path (with its query) from the server's monitoring port.
func (s *NATSServer) monitor(path string) (*http.Response, error) {
	return monitorClient.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.HTTPPort, path))
}

// healthz returns nil when the server's /healthz says ok: for a clustered
// JetStream server, that it is current with its meta group and streams.
func (s *NATSServer) healthz() error {
	resp, err := s.monitor("/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return fmt.Errorf("%s /healthz: %s %s", s.Name, resp.Status, body.Error)
	}
	return nil
}

// metaCluster is the part of /jsz that says who leads the meta group.
type metaCluster struct {
	Leader   string `json:"leader"`
	Replicas []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
		Offline bool   `json:"offline"`
	} `json:"replicas"`
}

func (s *NATSServer) jsz() (metaCluster, error) {
	var body struct {
		Meta *metaCluster `json:"meta_cluster"`
	}
	resp, err := s.monitor("/jsz")
	if err != nil {
		return metaCluster{}, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return metaCluster{}, fmt.Errorf("%s /jsz: %w", s.Name, err)
	}
	if body.Meta == nil {
		return metaCluster{}, fmt.Errorf("%s /jsz: no meta_cluster", s.Name)
	}
	return *body.Meta, nil
}

// StreamLeader returns the server that leads stream name (in any account)
// now. It takes no testing.TB, so that a goroutine of a test may call it.
func (c *NATS) StreamLeader(name string) (*NATSServer, error) {
	var body struct {
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	for _, s := range c.Servers {
		if !s.proc.running() {
			continue
		}
		resp, err := s.monitor("/jsz?accounts=true&streams=true")
		if err != nil {
			return nil, err
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s /jsz: %w", s.Name, err)
		}
		for _, a := range body.Accounts {
			for _, st := range a.Streams {
				if st.Name != name || st.Cluster.Leader == "" {
					continue
				}
				for _, l := range c.Servers {
					if l.Name == st.Cluster.Leader {
						return l, nil
					}
				}
			}
		}
	}
	return nil, fmt.Errorf("no leader known for stream %s", name)
}
