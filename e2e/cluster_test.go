//go:build unix

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/testkit/cluster"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
	"github.com/wsdeck/wsdeck/websocket"
)

const clusterToken = "cluster-test-token-0123456789"

// TestCluster runs the console as several nodes on real parts, all on
// loopback: a 3-server NATS cluster (the nats-server binary), 3 wsdeck
// nodes with --nats, HAProxy in front, and OpenSSH for their jobs. Its
// logs go to WSDECK_ARTIFACTS if set, else to the test's artifact
// directory.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster, wsdeck nodes and HAProxy")
	}
	logs := artifactDir(t)
	nats := cluster.StartNATS(t, 3, logs)
	srv, sshArgs := startJobHosts(t)
	bin := buildWsdeck(t)
	nodes := cluster.StartNodes(t, 3, cluster.NodeOptions{
		Bin: bin, Token: clusterToken, LogDir: logs,
		Args: append([]string{"--nats", nats.URLs(),
			"--rate", "-1", // the chat clients send as fast as they are acknowledged
			"--chat-history", "20000", // every message of the chat test stays replayable
			"--exec-heartbeat", clusterHeartbeat.String(),
		}, sshArgs...),
	})
	var backends []string
	for _, n := range nodes {
		backends = append(backends, n.Addr)
	}
	lb := cluster.StartHAProxy(t, backends, logs)
	t.Logf("NATS %s; nodes %v; HAProxy %s; logs in %s", nats.URLs(), backends, lb.Base, logs)

	t.Run("SessionAcrossNodes", func(t *testing.T) { testSessionAcrossNodes(t, nodes, lb) })
	t.Run("JobsAcrossNodes", func(t *testing.T) { testJobsAcrossNodes(t, nodes, srv, clusterLapse) })
	t.Run("NATSServerKilled", func(t *testing.T) { testNATSServerKilled(t, nats, nodes, lb) })
	t.Run("MonitorAcrossNodes", func(t *testing.T) { testMonitorAcrossNodes(t, nodes) })
	b := startBrowser(t, testpeer.Chromium(t), logs)
	t.Run("ChatUnderFaults", func(t *testing.T) { testChatUnderFaults(t, nats, nodes, lb, b, logs) })
}

// The job heartbeat of the nodes (--exec-heartbeat), and the bound within
// which another node marks a job whose node died interrupted: four
// heartbeats after the last one (docs/protocol.md).
const (
	clusterHeartbeat = time.Second
	clusterLapse     = 4 * clusterHeartbeat
)

// startJobHosts starts OpenSSH on 127.0.0.1-2 for the nodes' jobs, and
// returns the flags that let a node reach it.
func startJobHosts(t *testing.T) (*sshtest.OpenSSH, []string) {
	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, 2, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	line := sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), hostSigner.PublicKey())
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, []string{"--port", strconv.Itoa(srv.Port), "--identity", keyFile, "--known-hosts", known,
		"--ssh-config", "none", "--kill-grace", "1s"}
}

// testSessionAcrossNodes: a session cookie issued by one node is accepted
// by every node and through HAProxy; a logout on another node ends it on
// all, and closes its sockets on every node with 4401.
func testSessionAcrossNodes(t *testing.T, nodes []*cluster.Node, lb *cluster.HAProxy) {
	cookie := login(t, nodes[0].Base)
	bases := []string{lb.Base}
	for _, n := range nodes {
		bases = append(bases, n.Base)
	}
	bases = append(bases, lb.Base, lb.Base) // round robin: HAProxy's requests reach every node
	for _, base := range bases {
		if code := get(t, base+"/", cookie); code != http.StatusOK {
			t.Fatalf("GET %s/ with node 1's cookie: %d, want 200", base, code)
		}
	}

	// A socket of the session on every node, and three through HAProxy.
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	type ended struct {
		base string
		err  error
	}
	done := make(chan ended, len(bases))
	for _, base := range bases {
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/chat",
			&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie.String()}}})
		if err != nil {
			t.Fatalf("chat socket through %s: %v", base, err)
		}
		go func() {
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					ws.CloseNow()
					done <- ended{base, err}
					return
				}
			}
		}()
	}

	// Log out on node 2.
	req, _ := http.NewRequest("POST", nodes[1].Base+"/logout", nil)
	req.AddCookie(cookie)
	req.Header.Set("Origin", nodes[1].Base)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on node 2: %s, want 204", resp.Status)
	}
	for range bases {
		e := <-done
		if code := websocket.CloseStatus(e.err); code != 4401 {
			t.Errorf("a socket of the session through %s ended with %v (status %d), want 4401", e.base, e.err, code)
		}
	}
	for _, base := range bases {
		if code := get(t, base+"/", cookie); code != http.StatusUnauthorized {
			t.Errorf("GET %s/ with the cookie after logout: %d, want 401", base, code)
		}
	}
}

// testNATSServerKilled: one NATS server of the three, with wsdeck nodes
// connected to it, is killed with SIGKILL. The nodes reconnect to the
// others; meanwhile /healthz through HAProxy answers ok every time (R3
// streams keep their quorum, and HAProxy retries a node that answers 503
// while it reconnects on another), and a login through HAProxy works, at
// once or after the election of a new leader for the sessions' stream,
// and its cookie on every node.
//
// The server killed is not the JetStream meta leader: killing that one
// leaves JetStream without a leader for its election (several seconds),
// when every node's /healthz honestly answers 503. The chat test kills
// whichever server it finds and shows that no acknowledged message is lost.
func testNATSServerKilled(t *testing.T, nats *cluster.NATS, nodes []*cluster.Node, lb *cluster.HAProxy) {
	leader := nats.MetaLeader(t)
	var victim *cluster.NATSServer
	var conns int
	for _, s := range nats.Servers {
		if s == leader {
			continue
		}
		if n := natsConnections(t, s); victim == nil || n > conns {
			victim, conns = s, n
		}
	}
	before := reconnects(t, nodes)
	t.Logf("killing NATS server %s (%d client connections; meta leader %s)", victim.Name, conns, leader.Name)

	// Poll /healthz through HAProxy from before the kill until every node
	// that was connected to the victim has reconnected, and for at least
	// healthWindow after the kill.
	const healthWindow = 3 * time.Second
	stop := make(chan struct{})
	var failures []string
	var checks int
	var polling sync.WaitGroup
	polling.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			checks++
			resp, err := healthClient.Get(lb.Base + "/healthz")
			if err != nil {
				failures = append(failures, err.Error())
			} else {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures = append(failures, fmt.Sprintf("%s %s", resp.Status, strings.TrimSpace(string(body))))
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	stopPolling := sync.OnceFunc(func() { close(stop); polling.Wait() })
	defer stopPolling()

	victim.Kill()
	killed := time.Now()
	waitFor(t, fmt.Sprintf("%d node connections to reconnect", conns), func() bool {
		return reconnects(t, nodes)-before >= conns
	})
	t.Logf("the nodes reconnected %v after the kill", time.Since(killed).Round(time.Millisecond))

	// A login writes the session to its R3 bucket: if the victim led that
	// stream, writes wait for a new leader, and a login meanwhile is
	// refused with 503 (never hangs, never half done).
	var cookie *http.Cookie
	refused := 0
	waitFor(t, "a login through HAProxy", func() bool {
		resp, err := noRedirect.Get(lb.Base + "/?token=" + clusterToken)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusSeeOther && len(resp.Cookies()) == 1:
			cookie = resp.Cookies()[0]
			return true
		case resp.StatusCode == http.StatusServiceUnavailable:
			refused++
			return false
		}
		t.Fatalf("login through HAProxy after the kill: %s, cookies %v; want 303 with a cookie, or 503", resp.Status, resp.Cookies())
		return false
	})
	t.Logf("a login worked %v after the kill (%d refused with 503 before)", time.Since(killed).Round(time.Millisecond), refused)
	for _, n := range nodes {
		if code := get(t, n.Base+"/", cookie); code != http.StatusOK {
			t.Errorf("GET %s/ with a cookie from a login through HAProxy after the kill: %d, want 200", n.Base, code)
		}
	}
	// Every node's Exec page gets its hello (the job history, read through
	// a subscription to the jobs' states) as a page would, trying again
	// after a refusal that names the engine.
	for _, n := range nodes {
		tries := execHello(t, n.Base)
		t.Logf("%s: /ws/exec's hello %v after the kill (%d refused before)", n.Base, time.Since(killed).Round(time.Millisecond), tries)
	}
	waitFor(t, "the health window to pass", func() bool { return time.Since(killed) > healthWindow })
	stopPolling()
	t.Logf("%d /healthz checks through HAProxy during the kill", checks)
	if len(failures) > 0 {
		t.Errorf("/healthz through HAProxy failed %d times of %d, first: %s", len(failures), checks, failures[0])
	}

	victim.Start(t)
	nats.WaitReady(t)
}

var healthClient = &http.Client{Timeout: 10 * time.Second}

// execHello opens /ws/exec on base until its first message is the hello,
// as the page does (again after an "engine" error), and returns how many
// tries were refused first. Any other first message fails t.
func execHello(t *testing.T, base string) (refused int) {
	t.Helper()
	waitFor(t, "/ws/exec's hello on "+base, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/exec",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + clusterToken}}})
		if err != nil {
			t.Fatalf("/ws/exec on %s: %v", base, err)
		}
		defer ws.CloseNow()
		_, p, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("/ws/exec on %s: reading the first message: %v", base, err)
		}
		var f execFrame
		if err := json.Unmarshal(p, &f); err != nil {
			t.Fatalf("/ws/exec on %s: %s: %v", base, p, err)
		}
		switch {
		case f.Type == "hello":
			return true
		case f.Type == "error" && f.Code == "engine":
			refused++
			return false
		}
		t.Fatalf("/ws/exec on %s: first message %s, want the hello", base, p)
		return false
	})
	return refused
}

// login logs in at base with the token and returns the session cookie.
func login(t *testing.T, base string) *http.Cookie {
	t.Helper()
	resp, err := noRedirect.Get(base + "/?token=" + clusterToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login at %s: %s, cookies %v", base, resp.Status, resp.Cookies())
	}
	return resp.Cookies()[0]
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get sends GET url with cookie and returns the status code.
func get(t *testing.T, url string, cookie *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.AddCookie(cookie)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// natsConnections returns the number of client connections of s.
func natsConnections(t *testing.T, s *cluster.NATSServer) int {
	t.Helper()
	resp, err := healthClient.Get(fmt.Sprintf("http://127.0.0.1:%d/connz", s.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		N int `json:"num_connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.N
}

// reconnects returns the sum of the nodes' engine reconnects, from their
// /metrics.
func reconnects(t *testing.T, nodes []*cluster.Node) int {
	t.Helper()
	sum := 0
	for _, n := range nodes {
		req, _ := http.NewRequest("GET", n.Base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+clusterToken)
		resp, err := healthClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "wsdeck_engine_reconnects_total "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sum += int(f)
			}
		}
		resp.Body.Close()
	}
	return sum
}

// waitFor polls cond until it is true, failing t after stepTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, stepTimeout, what, cond)
}

// testMonitorAcrossNodes: every node's Monitor lists the three nodes, and
// a viewer on one node is shown another's samples, which that node takes
// while watched from elsewhere.
func testMonitorAcrossNodes(t *testing.T, nodes []*cluster.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*stepTimeout)
	defer cancel()
	type backfill struct {
		Type  string `json:"type"`
		Node  string `json:"node"`
		Self  string `json:"self"`
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	}
	open := func(n *cluster.Node, node string) (*websocket.Conn, backfill) {
		t.Helper()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.Base, "http")+"/ws/monitor?node="+node,
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + clusterToken}}})
		if err != nil {
			t.Fatal(err)
		}
		var bf backfill
		if _, p, err := ws.Read(ctx); err != nil || json.Unmarshal(p, &bf) != nil || bf.Type != "backfill" {
			t.Fatalf("%s: first message %+v (%v), want a backfill", n.Name, bf, err)
		}
		return ws, bf
	}
	samplesTaken := func(n *cluster.Node) int {
		t.Helper()
		req, _ := http.NewRequest("GET", n.Base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+clusterToken)
		resp, err := healthClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "wsdeck_monitor_samples_total "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return int(f)
			}
		}
		return 0
	}

	names := make([]string, len(nodes))
	for i, n := range nodes {
		ws, bf := open(n, "")
		ws.CloseNow()
		names[i] = bf.Self
	}
	for _, n := range nodes {
		waitFor(t, n.Name+" lists every node", func() bool {
			ws, bf := open(n, "")
			ws.CloseNow()
			listed := map[string]bool{}
			for _, l := range bf.Nodes {
				listed[l.Name] = true
			}
			for _, name := range names {
				if !listed[name] {
					return false
				}
			}
			return len(listed) == len(names)
		})
	}

	before := samplesTaken(nodes[1])
	ws, bf := open(nodes[0], names[1])
	defer ws.CloseNow()
	if bf.Node != names[1] || bf.Self != names[0] {
		t.Fatalf("backfill of node %q served by %q, want %s by %s", bf.Node, bf.Self, names[1], names[0])
	}
	for got := 0; got < 3; {
		_, p, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s's samples on %s: %v", names[1], names[0], err)
		}
		if strings.Contains(string(p), `"type":"sample"`) {
			got++
		}
	}
	if after := samplesTaken(nodes[1]); after < before+3 {
		t.Errorf("%s took %d samples while watched from %s, want the 3 shown at least", names[1], after-before, names[0])
	}
}
