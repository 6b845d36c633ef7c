package cluster

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// NodeOptions say how to run wsdeck nodes.
type NodeOptions struct {
	Bin   string   // the wsdeck binary (go build ./cmd/wsdeck)
	Token string   // the login token, given as --token
	Args  []string // more flags for wsdeck serve: --nats, --exec=false, ...
	// LogDir gets each node's log, wsdeck-NAME.log; t.TempDir() if empty.
	LogDir string
}

// Node is a wsdeck serve process. Kill and Start may be called from
// the test's goroutine only.
type Node struct {
	Name     string // w1, w2, ...
	Addr     string // host:port it listens on
	Base     string // http://Addr
	StateDir string // its --state-dir, kept across restarts

	opts  NodeOptions
	owner testing.TB // the test that started the node: it outlives restarts
	log   string
	proc  *proc
}

// StartNodes starts n wsdeck nodes, node i on 127.0.0.i and all on one
// port, each with a state directory of its own, all at once (as a rollout
// starts them: each creates the same streams and buckets at the same
// time), and waits until each answers /healthz.
func StartNodes(t testing.TB, n int, opts NodeOptions) []*Node {
	t.Helper()
	var hosts []string
	for i := range n {
		hosts = append(hosts, fmt.Sprint("127.0.0.", i+1))
	}
	port := strconv.Itoa(FreePort(t, hosts...))
	var nodes []*Node
	for i, h := range hosts {
		n := newNode(t, fmt.Sprint("w", i+1), net.JoinHostPort(h, port), t.TempDir(), opts)
		n.launch(t)
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		n.wait(t)
	}
	return nodes
}

// StartNode starts wsdeck serve as name on addr with stateDir, and waits
// until it answers /healthz.
func StartNode(t testing.TB, name, addr, stateDir string, opts NodeOptions) *Node {
	t.Helper()
	n := newNode(t, name, addr, stateDir, opts)
	n.Start(t)
	return n
}

func newNode(t testing.TB, name, addr, stateDir string, opts NodeOptions) *Node {
	if opts.LogDir == "" {
		opts.LogDir = t.TempDir()
	}
	return &Node{Name: name, Addr: addr, Base: "http://" + addr, StateDir: stateDir, opts: opts, owner: t,
		log: filepath.Join(opts.LogDir, "wsdeck-"+name+".log")}
}

// Start starts the node (again, after Kill) on its address and state
// directory, and waits until it answers /healthz. The process lasts until
// the test that started the node first is done, even when a subtest
// starts it again.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	n.launch(t)
	n.wait(t)
}

func (n *Node) launch(t testing.TB) {
	t.Helper()
	if n.proc != nil && n.proc.running() {
		t.Fatalf("cluster: node %s is running", n.Name)
	}
	args := append([]string{"serve", "--addr", n.Addr, "--token", n.opts.Token, "--print-url=false",
		"--state-dir", n.StateDir, "--log-format", "json"}, n.opts.Args...)
	n.proc = startProc(t, n.owner, n.log, n.opts.Bin, args...)
}

func (n *Node) wait(t testing.TB) {
	t.Helper()
	n.proc.waitReady(t, "/healthz ok", n.healthz)
}

// Kill kills the node with SIGKILL and waits until it is gone.
func (n *Node) Kill() { n.proc.kill() }

// Running reports whether the node's process is running.
func (n *Node) Running() bool { return n.proc != nil && n.proc.running() }

// Log returns the path of the node's log file.
func (n *Node) Log() string { return n.log }

var healthClient = &http.Client{Timeout: 5 * time.Second}

func (n *Node) healthz() error {
	resp, err := healthClient.Get(n.Base + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /healthz: %s", n.Name, resp.Status)
	}
	return nil
}
