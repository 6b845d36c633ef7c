package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
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
		port := server.RANDOM_PORT
		if i == 0 {
			port = seedPort
		}
		s := startClusterServer(t, fmt.Sprint("n", i), t.TempDir(), server.RANDOM_PORT, port, seed)
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
			// A Memory bucket is replicated as well.
			m := leases(t, e)
			if _, err := m.Create(ctx, "h1", []byte("n1")); err != nil {
				t.Fatal(err)
			}
			if st, err := m.kv.Status(ctx); err != nil || st.Config().Replicas != n || st.Config().Storage != jetstream.MemoryStorage {
				t.Errorf("memory bucket: %+v, %v; want %d replicas in memory", st.Config(), err, n)
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

// TestSubscribeSurvivesServerLoss: a subscription on a three-server
// cluster keeps delivering, each entry once and in order, after the server
// that holds its consumer stops, after the stream's leader stops, and
// after the server its connection uses stops (each brought back before
// the next, so that the stream keeps its quorum).
func TestSubscribeSurvivesServerLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	servers := runCluster(t, 3)
	byName := map[string]*server.Server{}
	var urls []string
	for _, s := range servers {
		byName[s.Name()] = s
		urls = append(urls, s.ClientURL())
	}
	var log logBuffer
	e, err := Open(ctxT(t), Config{URLs: urls, ReconnectWait: 100 * time.Millisecond, Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, e)
	defer func() {
		if t.Failed() {
			t.Logf("engine log:\n%s", log.String())
		}
	}()
	s := mustStream(t, e, StreamConfig{Name: "chat", Subjects: []string{"chat.>"}})

	var (
		mu  sync.Mutex
		got []string
	)
	// The subscription outlives any one step's context.
	sub, err := s.Subscribe(context.Background(), SubscribeOptions{Subject: "chat.lobby", From: 1}, func(m Msg) {
		mu.Lock()
		got = append(got, string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	var want []string
	publish := func() {
		data := fmt.Sprint("m", len(want)+1)
		want = append(want, data)
		// While the cluster elects new leaders a publish may fail: the
		// same id makes the retry store it once.
		var err error
		waitFor(t, "publish "+data, 30*time.Second, func() bool {
			_, err = s.Publish(ctxT(t), "chat.lobby", []byte(data), data)
			return err == nil
		})
	}
	delivered := func(what string) {
		t.Helper()
		for range 5 {
			publish()
		}
		waitFor(t, what, 60*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= len(want)
		})
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: delivered %v, want %v", what, got, want)
		}
	}
	delivered("the first entries")

	for _, step := range []struct {
		what   string
		victim func() string
	}{
		{"the consumer's server", func() string { return consumerServer(t, s) }},
		{"the stream's leader", func() string {
			info, err := s.s.Info(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			return info.Cluster.Leader
		}},
		{"the connection's server", func() string { return e.nc.ConnectedServerName() }},
	} {
		name := step.victim()
		t.Logf("stopping %s, %s", step.what, name)
		old := byName[name]
		addr, clusterAddr, storeDir := old.Addr().(*net.TCPAddr), old.ClusterAddr(), old.StoreDir()
		stopServer(old)
		delivered("entries after " + step.what + " stopped")

		var running []*server.Server
		for n, s := range byName {
			if n != name {
				running = append(running, s)
			}
		}
		s := restartServer(t, name, storeDir, addr, clusterAddr, running)
		byName[name] = s
		waitFor(t, name+" current in the cluster again", 30*time.Second, s.JetStreamIsCurrent)
	}
}

// consumerServer names the server that holds the stream's one consumer.
func consumerServer(t *testing.T, s *Stream) string {
	t.Helper()
	var name string
	waitFor(t, "one consumer with a leader", 10*time.Second, func() bool {
		lister := s.s.ListConsumers(ctxT(t))
		var infos []*jetstream.ConsumerInfo
		for ci := range lister.Info() {
			infos = append(infos, ci)
		}
		if len(infos) != 1 || infos[0].Cluster == nil || infos[0].Cluster.Leader == "" {
			return false
		}
		name = infos[0].Cluster.Leader
		return true
	})
	return name
}

// restartServer starts a server again, on the addresses and store it had,
// routed to the running servers of its cluster.
func restartServer(t *testing.T, name, storeDir string, addr, clusterAddr *net.TCPAddr, running []*server.Server) *server.Server {
	t.Helper()
	var routes []string
	for _, r := range running {
		routes = append(routes, fmt.Sprintf("nats://%s", r.ClusterAddr()))
	}
	return startClusterServer(t, name, storeDir, addr.Port, clusterAddr.Port, server.RoutesFromStr(strings.Join(routes, ",")))
}

// startClusterServer starts one server of the test cluster on loopback
// and waits until it takes connections; the test's end stops it.
func startClusterServer(t testing.TB, name, storeDir string, port, clusterPort int, routes []*url.URL) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		Routes:     routes,
	}
	opts.Cluster.Name = "wsdeck-test"
	opts.Cluster.Host = "127.0.0.1"
	opts.Cluster.Port = clusterPort
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { stopServer(s) })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-server %s not ready", name)
	}
	return s
}

// TestConcurrentCreate: wsdeck nodes started together on a new cluster
// (a rollout, a restart of every node) each create the same streams,
// buckets and object stores at once. Every node gets them, promptly. With
// update-then-create (the client library's CreateOrUpdate), a node's
// update of a stream that another node's create has proposed but the
// cluster not yet applied left every one of those requests unanswered
// (nats-server 2.15.3): each node failed at start with "no answer in time".
func TestConcurrentCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	servers := runCluster(t, 3)
	var engines []*Engine
	for _, s := range servers {
		e, err := Open(ctxT(t), Config{URLs: []string{s.ClientURL()}, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shutdown(t, e) })
		engines = append(engines, e)
	}
	// A create takes milliseconds; a lost answer costs an attempt of
	// createAttempt (3 s) before it is asked again.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(engines)*4+len(engines))
	for i, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 4 {
				// The same settings on every node but for the first
				// assets' age limit: a node whose settings differ
				// updates the asset instead.
				age := time.Hour
				if k == 0 {
					age += time.Duration(i) * time.Minute
				}
				name := fmt.Sprint("s", k)
				if _, err := e.Stream(ctx, StreamConfig{Name: name, Subjects: []string{name + ".>"}, MaxAge: age}); err != nil {
					errs <- fmt.Errorf("node %d: %w", i, err)
				}
				// A key read at once finds the bucket's readers on
				// every server, which learn of a new bucket a little
				// after its create is answered.
				if b, err := e.Bucket(ctx, BucketConfig{Name: fmt.Sprint("b", k), TTL: age}); err != nil {
					errs <- fmt.Errorf("node %d: %w", i, err)
				} else if _, err := b.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("node %d: Get of a key never set: %v, want ErrNotFound", i, err)
				}
				if _, err := e.Objects(ctx, ObjectsConfig{Name: fmt.Sprint("o", k), TTL: age}); err != nil {
					errs <- fmt.Errorf("node %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	// Every node then publishes the same entry, with the same id (each
	// node's first entry of a room), at once: it is stored once, and each
	// gets its sequence.
	seqs := make([]uint64, len(engines))
	for i, e := range engines {
		wg.Go(func() {
			s, err := e.Stream(ctx, StreamConfig{Name: "s1", Subjects: []string{"s1.>"}, MaxAge: time.Hour})
			if err == nil {
				seqs[i], err = s.Publish(ctx, "s1.rooms", []byte("lobby"), "room:lobby")
			}
			if err != nil {
				errs <- fmt.Errorf("node %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if seqs[0] == 0 || seqs[1] != seqs[0] || seqs[2] != seqs[0] {
		t.Errorf("sequences of the one entry: %v, want one for all", seqs)
	}
	// The streams exist with every node's settings but the age limit, which
	// is one node's.
	in, err := engines[0].js.Stream(context.Background(), "s0")
	if err != nil {
		t.Fatal(err)
	}
	if got := in.CachedInfo().Config.MaxAge; got < time.Hour || got > time.Hour+2*time.Minute {
		t.Errorf("s0's max age = %v, want one node's setting", got)
	}
}

// TestJetStreamLateAtStart: a node started with its NATS cluster (a
// compose file, a machine's boot) reaches a server before the cluster has
// elected a JetStream leader, and JetStream does not answer for a while.
// Open waits for it, saying so, instead of failing after ConnectTimeout;
// TestExternalUnreachableAtStart and TestExternalWithoutJetStream show it
// still fails at once when no server answers or none runs JetStream.
func TestJetStreamLateAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	// Every server routes to all three: the first alone knows its cluster
	// has three and waits for a quorum before it has a JetStream leader.
	var ports []int
	var seeds []string
	for range 3 {
		p := freePort(t)
		ports = append(ports, p)
		seeds = append(seeds, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	routes := server.RoutesFromStr(strings.Join(seeds, ","))
	first := startClusterServer(t, "n0", t.TempDir(), server.RANDOM_PORT, ports[0], routes)
	var log logBuffer
	done := openAsync(ctxT(t), Config{URLs: []string{first.ClientURL()}, ConnectTimeout: 500 * time.Millisecond, Logger: log.logger()})
	waitFor(t, "Open to say it waits for JetStream", 10*time.Second, func() bool {
		select {
		case r := <-done:
			t.Fatalf("Open returned before the cluster had a quorum: %v", r.err)
		default:
		}
		return strings.Contains(log.String(), "waiting for JetStream")
	})
	for i := 1; i < 3; i++ {
		startClusterServer(t, fmt.Sprint("n", i), t.TempDir(), server.RANDOM_PORT, ports[i], routes)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Open, once the cluster has its quorum: %v", r.err)
	}
	defer shutdown(t, r.e)
	if r.e.Replicas() != 3 {
		t.Errorf("Replicas() = %d, want 3", r.e.Replicas())
	}
}

// TestMemoryBucketClusterRestart: on a cluster a Memory bucket is kept in
// memory, and when every server restarts the cluster keeps the bucket
// itself (its definition is in the meta group's log), not its keys: keys
// can be created again once the cluster is back.
func TestMemoryBucketClusterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	servers := runCluster(t, 3)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	ctx := ctxT(t)
	e := openReconnecting(t, urls...)
	b := leases(t, e)
	if st := storage(t, b); st != jetstream.MemoryStorage {
		t.Fatalf("on a cluster: %v, want memory", st)
	}
	if _, err := b.Create(ctx, "h1", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	type place struct {
		name, dir   string
		port, cport int
	}
	var places []place
	for _, s := range servers {
		places = append(places, place{s.Name(), s.StoreDir(), s.Addr().(*net.TCPAddr).Port, s.ClusterAddr().Port})
		stopServer(s)
	}
	waitFor(t, "the engine to notice", 10*time.Second, func() bool { return !e.Stats().Connected })
	seed := server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", places[0].cport))
	for _, p := range places {
		startClusterServer(t, p.name, p.dir, p.port, p.cport, seed)
	}
	waitFor(t, "the bucket to take keys again", 60*time.Second, func() bool {
		_, err := b.Create(ctx, "h2", []byte("n2"))
		return err == nil || errors.Is(err, ErrExists)
	})
	if _, err := b.Get(ctx, "h1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a key from before every server restarted: %v, want ErrNotFound (kept in memory)", err)
	}
}
