package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/load"
)

// The chat servers of the fan-out run are real programs, run as
// subprocesses: wsdeck's binary (built from this repository), Centrifugo
// (built from the module pinned in bench/go.mod) and nats-server (built
// from the version the product's go.mod pins). Every process of a setup
// counts in its CPU time.

// Binaries locates the programs a fan-out run starts.
type Binaries struct {
	Wsdeck     string // wsdeck, built from the repository (go build ./cmd/wsdeck)
	Centrifugo string // built from github.com/centrifugal/centrifugo/v6
	NATSServer string // nats-server; "" skips the several-node setups
}

// NATSServerEnv names the nats-server binary, as in the product's tests
// (internal/testkit/testpeer); CI sets it.
const NATSServerEnv = "WSDECK_NATS_SERVER"

// FindNATSServer looks for nats-server: $WSDECK_NATS_SERVER, then PATH,
// then $(go env GOPATH)/bin.
func FindNATSServer() (string, error) {
	if p := os.Getenv(NATSServerEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", NATSServerEnv, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "nats-server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("nats-server not found (set " + NATSServerEnv + ", or go install github.com/nats-io/nats-server/v2@<the version wsdeck's go.mod pins>)")
}

// BuildWsdeck builds ./cmd/wsdeck of the module in dir into out.
func BuildWsdeck(dir, out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/wsdeck")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building wsdeck: %w\n%s", err, b)
	}
	return nil
}

// BuildCentrifugo builds Centrifugo, at the version bench/go.mod pins (a
// tool of the module), into out; it must run in the bench module.
func BuildCentrifugo(out string) error {
	cmd := exec.Command("go", "build", "-o", out, "github.com/centrifugal/centrifugo/v6")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building centrifugo: %w\n%s", err, b)
	}
	return nil
}

// extProc is a program the harness runs, its output kept in a log file.
type extProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startExt(name, logPath, bin string, args ...string) (*extProc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &extProc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits, or timeout.
func (p *extProc) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %s%s", p.name, p.cmd.ProcessState, p.tail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w%s", p.name, timeout, err, p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM, then SIGKILL after a few seconds.
func (p *extProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *extProc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	if len(b) == 0 {
		return ""
	}
	return "\n" + p.name + " log:\n" + string(b)
}

// freePort returns a port free on 127.0.0.1 now.
func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct ports free on 127.0.0.1 now: all are held
// until the last is found, where n calls of freePort could be given one
// port twice (a cluster's route then reaches another server's monitor).
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

var probe = &http.Client{Timeout: 2 * time.Second}

// httpOK returns nil if GET url answers 200.
func httpOK(url string) error {
	resp, err := probe.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// chatSetup is a chat server's processes: its nodes and the NATS servers
// under them.
type chatSetup struct {
	procs   []*extProc // the nats-servers first, then the nodes
	engines int        // how many of procs are nats-servers
	varz    []string   // the nats-servers' /varz URLs
	addrs   []string   // the nodes' WebSocket host:port
	proto   load.Proto
}

func (s *chatSetup) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
}

// cpu is the CPU time every process of the setup has used.
func (s *chatSetup) cpu() (time.Duration, error) { return procsCPU(s.procs) }

// engineCPU is the CPU time the setup's nats-servers have used.
func (s *chatSetup) engineCPU() (time.Duration, error) { return procsCPU(s.procs[:s.engines]) }

// engineMsgs is the messages the setup's nats-servers have taken in, from
// clients and from one another (the sum of their in_msgs).
func (s *chatSetup) engineMsgs() (int64, error) {
	var sum int64
	for _, u := range s.varz {
		var body struct {
			InMsgs int64 `json:"in_msgs"`
		}
		resp, err := probe.Get(u)
		if err != nil {
			return 0, err
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", u, err)
		}
		sum += body.InMsgs
	}
	return sum, nil
}

func procsCPU(procs []*extProc) (time.Duration, error) {
	var sum time.Duration
	for _, p := range procs {
		c, err := pidCPU(p.cmd.Process.Pid)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
		sum += c
	}
	return sum, nil
}

// chatKind is one server setup of the fan-out run.
type chatKind struct {
	server string // wsdeck or centrifugo
	nodes  int    // 1: memory or embedded engine; 3: on a NATS cluster of 3
}

// startNATS starts a cluster of n nats-servers with JetStream, in dir,
// and returns their client URLs once every one is healthy.
func startNATS(bin, dir string, n int, s *chatSetup) ([]string, error) {
	type srv struct{ port, cport, hport int }
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	srvs := make([]srv, n)
	for i := range srvs {
		srvs[i] = srv{ports[3*i], ports[3*i+1], ports[3*i+2]}
	}
	var routes, urls []string
	for _, v := range srvs {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", v.cport))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", v.port))
	}
	for i, v := range srvs {
		name := fmt.Sprint("n", i+1)
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"+
			"jetstream {\n  store_dir: %q\n  max_memory_store: 256MB\n  max_file_store: 4GB\n}\n"+
			"cluster {\n  name: wsbench\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n",
			name, v.port, v.hport, filepath.Join(dir, name+"-store"), v.cport, strings.Join(routes, ", "))
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		p, err := startExt("nats-server "+name, filepath.Join(dir, name+".log"), bin, "-c", path)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, p)
		s.engines++
		s.varz = append(s.varz, fmt.Sprintf("http://127.0.0.1:%d/varz", v.hport))
	}
	for i, v := range srvs {
		if err := s.procs[len(s.procs)-n+i].waitReady(30*time.Second, func() error {
			return httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", v.hport))
		}); err != nil {
			return nil, err
		}
	}
	// A healthy server may not have its routes yet: wait until
	// JetStream's meta leader counts every server as current, so that
	// the nodes started next see the whole cluster (and its streams get
	// their replicas) and messages cross every route.
	hports := make(map[string]int, n) // by server name
	for i, v := range srvs {
		hports[fmt.Sprint("n", i+1)] = v.hport
	}
	if err := s.procs[len(s.procs)-n].waitReady(time.Minute, func() error { return metaCurrent(hports) }); err != nil {
		return nil, err
	}
	return urls, nil
}

// metaCurrent reports whether one of the servers (monitored at hports, by
// name) leads JetStream's meta group and counts all of them as current.
func metaCurrent(hports map[string]int) error {
	for name, hp := range hports {
		var body struct {
			Meta *struct {
				Leader   string `json:"leader"`
				Replicas []struct {
					Current bool `json:"current"`
					Offline bool `json:"offline"`
				} `json:"replicas"`
			} `json:"meta_cluster"`
		}
		resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", hp))
		if err != nil {
			return err
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("/jsz: %w", err)
		}
		if body.Meta == nil || body.Meta.Leader != name {
			continue
		}
		current := 1 // the leader
		for _, r := range body.Meta.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		if current < len(hports) {
			return fmt.Errorf("meta leader %s counts %d current servers of %d", name, current, len(hports))
		}
		return nil
	}
	return errors.New("no server leads JetStream's meta group yet")
}

// wsdeckToken is the login token of the bench's wsdeck nodes.
const wsdeckToken = "wsbench-fanout-token-0123456789"

// startChat starts a setup of kind k, its files under dir, sized for
// conns connections in all.
func startChat(ctx context.Context, k chatKind, bins Binaries, dir string, conns int) (*chatSetup, error) {
	s := &chatSetup{}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	var natsURLs []string
	if k.nodes > 1 {
		if bins.NATSServer == "" {
			return nil, errors.New("no nats-server")
		}
		var err error
		if natsURLs, err = startNATS(bins.NATSServer, dir, k.nodes, s); err != nil {
			return nil, err
		}
	}
	for i := range k.nodes {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		name := fmt.Sprintf("%s-%d", k.server, i+1)
		var p *extProc
		var ready func() error
		switch k.server {
		case "wsdeck":
			args := []string{"serve", "--addr", addr, "--token", wsdeckToken, "--print-url=false",
				"--state-dir", filepath.Join(dir, name),
				"--max-conns", strconv.Itoa(conns + 100), "--max-conns-per-client", strconv.Itoa(conns + 100),
				"--rate", "-1", "--queue", strconv.Itoa(max(4096, 2*conns))}
			if natsURLs != nil {
				args = append(args, "--nats", strings.Join(natsURLs, ","))
			}
			p, err = startExt(name, filepath.Join(dir, name+".log"), bins.Wsdeck, args...)
			ready = func() error { return httpOK("http://" + addr + "/healthz") }
			s.proto = load.WsdeckChat{Token: wsdeckToken}
		case "centrifugo":
			conf := centrifugoConfig(port, natsURLs)
			path := filepath.Join(dir, name+".json")
			if err := os.WriteFile(path, conf, 0o644); err != nil {
				return nil, err
			}
			p, err = startExt(name, filepath.Join(dir, name+".log"), bins.Centrifugo, "--config", path)
			ready = func() error { return httpOK("http://" + addr + "/health") }
			s.proto = load.Centrifugo{Channel: "chat"}
		default:
			return nil, fmt.Errorf("unknown chat server %q", k.server)
		}
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, p)
		if err := p.waitReady(60*time.Second, ready); err != nil {
			return nil, err
		}
		s.addrs = append(s.addrs, addr)
	}
	// A clustered engine may still be electing its streams' leaders when
	// the nodes answer their health checks: wait until a member can join
	// through every node.
	// Three joins in a row through each.
	for _, a := range s.addrs {
		deadline := time.Now().Add(60 * time.Second)
		for ok := 0; ok < 3; {
			jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := load.Join(jctx, a, s.proto)
			cancel()
			if err == nil {
				ok++
				continue
			}
			ok = 0
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("joining through %s: %w", a, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	ok = true
	return s, nil
}

// centrifugoConfig is a Centrifugo v6 configuration: anonymous clients
// that may subscribe to and publish into channels without a namespace, no
// history, presence or join/leave events (its defaults), the memory
// broker, or the NATS broker when natsURLs is set; no usage statistics.
func centrifugoConfig(port int, natsURLs []string) []byte {
	conf := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"client": map[string]any{
			"insecure": true,
		},
		"channel": map[string]any{
			"without_namespace": map[string]any{
				"allow_subscribe_for_client":    true,
				"allow_subscribe_for_anonymous": true,
				"allow_publish_for_client":      true,
				"allow_publish_for_anonymous":   true,
			},
		},
		"http_api":    map[string]any{"insecure": true},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
	}
	if natsURLs != nil {
		conf["broker"] = map[string]any{
			"enabled": true, "type": "nats",
			"nats": map[string]any{"url": strings.Join(natsURLs, ",")},
		}
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		panic(err) // maps of strings, numbers and bools always encode
	}
	return b
}
