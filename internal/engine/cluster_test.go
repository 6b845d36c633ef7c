package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// runCluster starts n nats-servers with JetStream clustered on loopback
// (each routes to the first one's cluster port, itself included) and
// waits for a JetStream meta leader that knows them all.
func runCluster(t testing.TB, n int) []*server.Server {
	t.Helper()
	seedPort := freePort(t)
	seed := server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", seedPort))
	var servers []*server.Server
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprint("n", i),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
		}
		opts.Cluster.Name = "wsdeck-test"
		opts.Cluster.Host = "127.0.0.1"
		opts.Cluster.Port = server.RANDOM_PORT
		if i == 0 {
			opts.Cluster.Port = seedPort
		}
		opts.Routes = seed
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { stopServer(s) })
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats-server not ready")
		}
		servers = append(servers, s)
	}
	// Placement counts only the peers the meta leader has current stats
	// for: until it has them all, a stream of n replicas is refused.
	waitFor(t, "the routes, and a JetStream meta leader that counts every server", 20*time.Second, func() bool {
		leader := false
		for _, s := range servers {
			if s.NumRoutes() < n-1 {
				return false
			}
			if s.JetStreamIsLeader() {
				leader = len(s.JetStreamClusterPeers()) == n
			}
		}
		return leader
	})
	return servers
}

// TestClusterReplicas: on a cluster of three, streams and buckets get
// three replicas, read from what the servers advertise; on a cluster of
// two, two.
func TestClusterReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS clusters")
	}
	for _, n := range []int{3, 2} {
		t.Run(fmt.Sprint(n, " servers"), func(t *testing.T) {
			servers := runCluster(t, n)
			ctx := ctxT(t)
			// One URL is enough: the others are learnt from the cluster.
			e, err := Open(ctx, Config{URLs: []string{servers[0].ClientURL()}, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(t, e)
			if e.Replicas() != n {
				t.Errorf("Replicas() = %d, want %d", e.Replicas(), n)
			}
			s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})
			in, err := s.s.Info(ctx)
			if err != nil || in.Config.Replicas != n {
				t.Errorf("stream replicas = %d, %v; want %d", in.Config.Replicas, err, n)
			}
			mustPublish(t, s, "chat.lobby", "replicated", "")
			if msgs, err := s.Read(ctx, ReadOptions{}); err != nil || strings.Join(datas(msgs), ",") != "replicated" {
				t.Errorf("Read = %v, %v", datas(msgs), err)
			}
			b, err := e.Bucket(ctx, BucketConfig{Name: "sessions"})
			if err != nil {
				t.Fatal(err)
			}
			st, err := b.kv.Status(ctx)
			if err != nil || st.Config().Replicas != n {
				t.Errorf("bucket replicas: %v, %v; want %d", st, err, n)
			}
			if n < 3 {
				// An estimate above the cluster's size steps down when
				// the cluster says it cannot place that many.
				e.replicas.Store(3)
				s := mustStream(t, e, StreamConfig{Name: "over", Subjects: []string{"over"}})
				if in, err := s.s.Info(ctx); err != nil || in.Config.Replicas != n || e.Replicas() != n {
					t.Errorf("after an overestimate: stream replicas %d (%v), default now %d; want %d", in.Config.Replicas, err, e.Replicas(), n)
				}
			}
		})
	}
}
