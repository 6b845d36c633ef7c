//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/cluster"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
	"github.com/wsdeck/wsdeck/websocket"
)

// execFrame is any /ws/exec message from the server, as far as these
// tests read it.
type execFrame struct {
	Type   string            `json:"type"`
	ID     string            `json:"id"`
	Job    json.RawMessage   `json:"job"` // an id (accepted), or a record (state, job)
	Events []json.RawMessage `json:"events"`
	Code   string            `json:"code"`
	Error  string            `json:"error"`
	Jobs   []jobRecord       `json:"jobs"`
}

// jobRecord is what these tests read of a job's record.
type jobRecord struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Node  string `json:"node"`
}

// record returns the record a state or job message carries.
func (f execFrame) record() jobRecord {
	var r jobRecord
	json.Unmarshal(f.Job, &r)
	return r
}

// jobID returns the job id an accepted or events message names.
func (f execFrame) jobID() string {
	var id string
	json.Unmarshal(f.Job, &id)
	return id
}

// outLines returns the output lines of an events message.
func (f execFrame) outLines() []string {
	var lines []string
	for _, raw := range f.Events {
		var e struct {
			E     string   `json:"e"`
			Lines []string `json:"lines"`
		}
		if json.Unmarshal(raw, &e) == nil && e.E == "out" {
			lines = append(lines, e.Lines...)
		}
	}
	return lines
}

// execClient is a script's connection to /ws/exec of one node, with the
// bearer token.
type execClient struct {
	name string
	ws   *websocket.Conn
	in   chan execFrame
}

func dialExec(t *testing.T, name, base string) *execClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/exec",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + clusterToken}}})
	if err != nil {
		t.Fatalf("%s: /ws/exec on %s: %v", name, base, err)
	}
	e := &execClient{name: name, ws: ws, in: make(chan execFrame, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(e.in)
		for {
			_, p, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var f execFrame
			if json.Unmarshal(p, &f) == nil {
				e.in <- f
			}
		}
	}()
	t.Cleanup(func() {
		ws.CloseNow()
		for range e.in {
		}
		<-done
	})
	e.await(t, "hello", func(f execFrame) bool { return f.Type == "hello" })
	return e
}

func (e *execClient) send(t *testing.T, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := e.ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatalf("%s: sending %s: %v", e.name, b, err)
	}
}

// await reads messages until match accepts one, and returns it. An error
// message fails the test.
func (e *execClient) await(t *testing.T, what string, match func(execFrame) bool) execFrame {
	t.Helper()
	return e.awaitWithin(t, what, stepTimeout, match)
}

func (e *execClient) awaitWithin(t *testing.T, what string, d time.Duration, match func(execFrame) bool) execFrame {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-e.in:
			if !ok {
				t.Fatalf("%s: the socket ended, waiting for %s", e.name, what)
			}
			if f.Type == "error" {
				t.Fatalf("%s: error %s (%s), waiting for %s", e.name, f.Code, f.Error, what)
			}
			if match(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("%s: no %s within %v", e.name, what, d)
		}
	}
}

// run asks for command on hosts and returns the job's id.
func (e *execClient) run(t *testing.T, hosts, command string) string {
	t.Helper()
	e.send(t, map[string]string{"type": "run", "id": "r-" + hosts, "hosts": hosts, "command": command})
	return e.await(t, "the job accepted", func(f execFrame) bool { return f.Type == "accepted" }).jobID()
}

// awaitOutput waits for n output lines of job id.
func (e *execClient) awaitOutput(t *testing.T, id string, n int) {
	t.Helper()
	got := 0
	e.await(t, fmt.Sprintf("%d output lines of job %s", n, id), func(f execFrame) bool {
		if f.Type == "events" && f.jobID() == id {
			got += len(f.outLines())
		}
		return got >= n
	})
}

// awaitState waits for the state message of job id that says state.
func (e *execClient) awaitState(t *testing.T, id, state string, d time.Duration) jobRecord {
	t.Helper()
	return e.awaitWithin(t, fmt.Sprintf("job %s %s", id, state), d, func(f execFrame) bool {
		return f.Type == "state" && f.record().ID == id && f.record().State == state
	}).record()
}

// jobHosts is the host expression of the cluster's jobs: two sshd
// addresses.
const jobHosts = "127.0.0.1-2"

// testJobsAcrossNodes: a job started through node 1 is watched and
// cancelled from node 3, and ends (its remote commands too); a job run by
// node 2, watched from node 3, is marked interrupted when node 2 is
// killed with SIGKILL, within the heartbeat's bound, and leaves no sshd
// session behind. Node 2 is started again at the end.
func testJobsAcrossNodes(t *testing.T, nodes []*cluster.Node, srv *sshtest.OpenSSH, lapse time.Duration) {
	a := dialExec(t, "viewer on node 1", nodes[0].Base)
	c := dialExec(t, "viewer on node 3", nodes[2].Base)

	marker := fmt.Sprintf("wsdeck-cluster-cancel-%d", time.Now().UnixNano())
	id := a.run(t, jobHosts, "echo started; sleep 120; : "+marker)
	c.send(t, map[string]string{"type": "open", "job": id})
	c.awaitOutput(t, id, 2) // both hosts run it
	c.send(t, map[string]string{"type": "cancel", "job": id})
	for _, v := range []*execClient{a, c} {
		if r := v.awaitState(t, id, "cancelled", stepTimeout); r.Node == "" {
			t.Errorf("%s: the cancelled job's record names no node", v.name)
		}
	}
	sshtest.Eventually(t, stepTimeout, "remote commands of the cancelled job", func() bool { return len(sshtest.ProcessesWith(marker)) == 0 })

	b := dialExec(t, "viewer on node 2", nodes[1].Base)
	marker = fmt.Sprintf("wsdeck-cluster-kill-%d", time.Now().UnixNano())
	id = b.run(t, jobHosts, "echo started; sleep 120; : "+marker)
	c.send(t, map[string]string{"type": "open", "job": id})
	c.awaitOutput(t, id, 2)
	nodes[1].Kill()
	killed := time.Now()
	c.awaitState(t, id, "interrupted", lapse+stepTimeout)
	took := time.Since(killed)
	t.Logf("job %s marked interrupted %v after its node was killed", id, took.Round(time.Millisecond))
	// The bound counts from the last heartbeat, at most one before the
	// kill; a second of slack for a loaded machine.
	if took > lapse+time.Second {
		t.Errorf("job %s marked interrupted %v after the kill, over the bound of %v", id, took, lapse)
	}
	sshtest.Eventually(t, stepTimeout, "remote commands of the job whose node was killed", func() bool { return len(sshtest.ProcessesWith(marker)) == 0 })
	sshtest.Eventually(t, stepTimeout, "sshd sessions left", func() bool { return len(srv.Descendants()) == 0 })
	nodes[1].Start(t)
}

// list returns the job history, newest first, as a list request gives it.
func (e *execClient) list(t *testing.T) []jobRecord {
	t.Helper()
	e.send(t, map[string]string{"type": "list", "id": "history"})
	return e.await(t, "the job list", func(f execFrame) bool { return f.Type == "list" && f.ID == "history" }).Jobs
}

// pollState asks for the job history until job id is in state, within d.
func (e *execClient) pollState(t *testing.T, id, state string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, r := range e.list(t) {
			if r.ID == id && r.State == state {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: job %s not %s within %v", e.name, id, state, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
