//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/cluster"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// TestRestart kills a console (its engine embedded) with SIGKILL while
// chat clients send and a job runs, and starts it again on the same
// --state-dir and address: every acknowledged chat message is there once
// and in order (the clients, reconnecting with since=, and a newcomer
// given the whole history agree), the job history is there with the
// killed job interrupted, and the audit stream holds both records of
// every job.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills a console")
	}
	logs := artifactDir(t)
	srv, sshArgs := startJobHosts(t)
	bin := buildWsdeck(t)
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(cluster.FreePort(t)))
	node := cluster.StartNode(t, "restart", addr, t.TempDir(), cluster.NodeOptions{
		Bin: bin, Token: clusterToken, LogDir: logs,
		Args: append([]string{"--rate", "-1", "--chat-history", "20000",
			"--exec-heartbeat", clusterHeartbeat.String()}, sshArgs...),
	})

	// Jobs: two that finish, one that runs when the console is killed.
	v := dialExec(t, "viewer", node.Base)
	var finished []string
	for i := range 2 {
		id := v.run(t, jobHosts, fmt.Sprintf("echo job %d", i))
		v.awaitState(t, id, "done", stepTimeout)
		finished = append(finished, id)
	}
	marker := fmt.Sprintf("wsdeck-restart-%d", time.Now().UnixNano())
	running := v.run(t, jobHosts, "echo started; sleep 120; : "+marker)
	v.send(t, map[string]string{"type": "open", "job": running})
	v.awaitOutput(t, running, 2)

	// Chat: clients send; halfway through, the console is killed and
	// started again, and they carry on.
	const nClients, perClient = 10, 100
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clients := chatClients(t, nClients, node.Base)
	killed := make(chan time.Time, 1)
	load := make(chan error, 1)
	go func() {
		load <- chatLoad(ctx, clients, perClient, map[int]func(){
			nClients * perClient / 2: func() {
				node.Kill()
				killed <- time.Now()
			},
		})
	}()
	var killedAt time.Time
	select {
	case killedAt = <-killed:
	case err := <-load:
		t.Fatalf("the chat ended before the kill: %v", err)
	}
	node.Start(t)
	t.Logf("started again %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	if err := <-load; err != nil {
		t.Fatal(err)
	}
	connects := 0
	for _, c := range clients {
		connects += c.connects
	}
	if connects < 2*nClients {
		t.Errorf("%d connections for %d clients: some did not reconnect after the kill", connects, nClients)
	}
	// A newcomer is given the whole history: the same.
	newcomer := chatClients(t, 1, node.Base)[0]
	newcomer.name = "newcomer"
	cc, err := newcomer.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cc.ws.CloseNow()
	for range cc.in {
	}
	checkChat(t, clients, map[string][]chatEvent{"newcomer": newcomer.msgs})

	// The job history: the finished jobs done, the killed one
	// interrupted (by the console started again, once its heartbeats
	// have lapsed), and nothing of it left on the hosts.
	v = dialExec(t, "viewer after the restart", node.Base)
	v.pollState(t, running, "interrupted", clusterLapse+stepTimeout)
	sshtest.Eventually(t, stepTimeout, "remote commands of the killed job", func() bool { return len(sshtest.ProcessesWith(marker)) == 0 })
	sshtest.Eventually(t, stepTimeout, "sshd sessions left", func() bool { return len(srv.Descendants()) == 0 })
	list := v.list(t)
	want := map[string]string{finished[0]: "done", finished[1]: "done", running: "interrupted"}
	for _, r := range list {
		if w, ok := want[r.ID]; ok {
			if r.State != w {
				t.Errorf("job %s is %s in the history, want %s", r.ID, r.State, w)
			}
			delete(want, r.ID)
		}
	}
	if len(want) > 0 {
		t.Errorf("jobs missing from the history: %v", want)
	}

	// The audit stream: a start and an end record of every job.
	checkAudit(t, bin, node, append(finished, running))
}

// checkAudit kills node (the embedded engine's state directory is locked
// while it runs) and reads its audit stream with wsdeck audit: every job
// of ids has exactly one start and one end record.
func checkAudit(t *testing.T, bin string, node *cluster.Node, ids []string) {
	t.Helper()
	node.Kill()
	out, err := exec.Command(bin, "audit", "--state-dir", node.StateDir).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("wsdeck audit: %v\n%s", err, stderr)
	}
	count := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			Event string `json:"event"`
			Job   string `json:"job"`
			State string `json:"state"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("wsdeck audit printed %q: %v", line, err)
		}
		count[r.Job+" "+r.Event]++
	}
	for _, id := range ids {
		for _, ev := range []string{"start", "end"} {
			if n := count[id+" "+ev]; n != 1 {
				t.Errorf("job %s has %d %s records in the audit stream, want 1", id, n, ev)
			}
		}
	}
}
