// Command fleetbench measures the Fleet Monitor: what one console costs
// per monitored host at one sample a second, and what the sampling costs
// the targets. It starts OpenSSH servers on N loopback addresses
// (127.0.0.1-250, 127.0.1.1-250, ...: one sshd per 16 addresses,
// OpenSSH's MAX_LISTEN_SOCKS, all on one port), the real wsdeck binary
// with SSH settings for them, and a WebSocket client that watches all N
// hosts in the Fleet view; once every host is up it measures, over a
// window:
//
//   - the console's CPU (utime+stime of its process, the embedded engine
//     included) and resident memory (VmRSS), beside the same console idle;
//   - the targets' CPU: every process below the sshd listeners (the
//     per-connection sshd, the shell loop, and the sleep and df it runs
//     and reaps), which is what the hosts would pay, here all on one
//     machine;
//   - with the binary it builds (an overlay adds debug handlers to it,
//     not to the product): the console's live heap after a forced GC at
//     the end, and with -profiles a heap profile and a goroutine dump.
//
// With -client floor it measures, instead of the console, the least any
// Go client with x/crypto/ssh holds per host for the same sampling (one
// connection, one session, one reader; see floor.go): what a host costs
// before the console adds anything.
//
// It prints a Markdown table.
//
//	cd bench && go run ./cmd/fleetbench -hosts 100,300
//	cd bench && go run ./cmd/fleetbench -targets emulated -hosts 100,1000
//	cd bench && go run ./cmd/fleetbench -client floor -targets emulated -hosts 1000,2000
//
// It needs /usr/sbin/sshd and ssh-keygen (Debian: apt install
// openssh-server), and listens on 127.0.0.0/8 only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

const token = "fleetbench-token-0123456789abcdef"

func main() {
	bin := flag.String("wsdeck", "", "wsdeck binary (default: build ../cmd/wsdeck)")
	sizes := flag.String("hosts", "100,1000", "host counts to measure")
	window := flag.Duration("window", 20*time.Second, "measuring window, once every host is up")
	settle := flag.Duration("settle", 10*time.Second, "wait after every host is up, before the window")
	upTimeout := flag.Duration("up-timeout", 3*time.Minute, "most time for every host to come up")
	profiles := flag.String("profiles", "", "if set, a directory to write the console's heap profile (after a GC) and goroutine dump to, at the end of each window (needs the binary fleetbench builds)")
	client := flag.String("client", "console", "console: the wsdeck binary's Fleet view; floor: the least a client with x/crypto/ssh holds per host (one connection, one session, one reader; see floor.go)")
	kind := flag.String("targets", "sshd", "sshd: OpenSSH on every address, running the loop; emulated: an SSH server of this process answering with this machine's /proc, to measure the console alone where the machine cannot run N real targets")
	if spec := os.Getenv(floorEnv); spec != "" {
		floorMain(spec)
	}
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *client != "console" && *client != "floor" {
		log.Fatalf("-client %q: console or floor", *client)
	}
	if *bin == "" && *client == "console" {
		tmp, err := os.MkdirTemp("", "fleetbench-build")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		overlay, err := writeOverlay(tmp, "../cmd/wsdeck")
		if err != nil {
			log.Fatal(err)
		}
		*bin = filepath.Join(os.TempDir(), "fleetbench-wsdeck")
		cmd := exec.Command("go", "build", "-overlay", overlay, "-o", *bin, "./cmd/wsdeck")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("go build: %v\n%s", err, out)
		}
	}
	var rows []row
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad host count %q", s)
		}
		r, err := measure(*bin, *kind, *client, n, *window, *settle, *upTimeout, *profiles)
		if err != nil {
			log.Fatalf("%d hosts: %v", n, err)
		}
		rows = append(rows, r)
	}
	fmt.Print(markdown(rows, *window, *kind, *client))
}

// row is one measurement.
type row struct {
	hosts            int
	up               int     // hosts up at the end of the window
	ticks            float64 // frames a second the client got
	consoleCPU       float64 // cores
	idleRSS, rss     int64   // bytes
	targetCPU        float64 // cores
	targetProcs      int
	window           time.Duration
	connectedInSecs  float64
	consoleIdleCores float64
	// The Go runtime's figures from /metrics, idle and at the end.
	idleHeap, heap, idleStack, stack int64
	idleGoroutines, goroutines       int64
	// The live heap just after a forced GC, idle and at the end (0: the
	// console has no debug handlers).
	idleLive, live int64
}

// hostSet is the targets, real or emulated.
type hostSet interface {
	credentials() (key, known string, port int)
	cpu() map[int]time.Duration // nil when not measured
	stop()
}

func (t *targets) credentials() (string, string, int)  { return t.key, t.known, t.port }
func (t *targets) cpu() map[int]time.Duration          { return t.targetCPU() }
func (e *emulated) credentials() (string, string, int) { return e.key, e.known, e.port }
func (e *emulated) cpu() map[int]time.Duration         { return nil }

func measure(bin, kind, client string, n int, window, settle, upTimeout time.Duration, profiles string) (row, error) {
	dir, err := os.MkdirTemp("", "fleetbench")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	var t hostSet
	if kind == "emulated" {
		t, err = startEmulated(dir, n)
	} else {
		t, err = setup(dir, n)
	}
	if err != nil {
		return row{}, err
	}
	defer t.stop()
	if client == "floor" {
		return measureFloor(t, n, window, settle)
	}
	c, err := startConsole(bin, dir, t, profiles != "")
	if err != nil {
		return row{}, err
	}
	defer c.stop()
	r := row{hosts: n, window: window}

	// The console idle: its baseline.
	time.Sleep(3 * time.Second)
	cpu0 := procCPU(c.cmd.Process.Pid)
	time.Sleep(5 * time.Second)
	r.consoleIdleCores = (procCPU(c.cmd.Process.Pid) - cpu0).Seconds() / 5
	r.idleRSS = procRSS(c.cmd.Process.Pid)
	r.idleHeap, r.idleStack, r.idleGoroutines = c.goFigures()
	if m, ok := c.mem(); ok {
		r.idleLive = m.HeapAlloc
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws/fleet",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return r, err
	}
	defer ws.CloseNow()
	watch, _ := json.Marshal(map[string]string{"type": "watch", "expr": fold(addrs(n))})
	if err := ws.Write(ctx, websocket.MessageText, watch); err != nil {
		return r, err
	}
	type tick struct {
		Type   string `json:"type"`
		Counts [3]int `json:"counts"`
		Error  string `json:"error"`
	}
	ticks := make(chan tick, 64)
	go func() {
		defer close(ticks)
		for {
			_, p, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var tk tick
			if json.Unmarshal(p, &tk) == nil && (tk.Type == "tick" || tk.Type == "error") {
				select {
				case ticks <- tk:
				default:
				}
			}
		}
	}()
	start := time.Now()
	deadline := time.After(upTimeout)
	last := tick{}
	for last.Counts[0] < n {
		select {
		case tk, ok := <-ticks:
			if !ok {
				return r, errors.New("the socket closed")
			}
			if tk.Type == "error" {
				return r, fmt.Errorf("console: %s", tk.Error)
			}
			last = tk
		case <-deadline:
			return r, fmt.Errorf("after %v only %d of %d hosts up (%d stale, %d down)", upTimeout, last.Counts[0], n, last.Counts[1], last.Counts[2])
		}
	}
	r.connectedInSecs = time.Since(start).Seconds()
	log.Printf("%d hosts up in %.1f s; settling %v", n, r.connectedInSecs, settle)
	drain(ticks, settle)

	cpu0 = procCPU(c.cmd.Process.Pid)
	tgt0 := t.cpu()
	frames := drain(ticks, window)
	r.consoleCPU = (procCPU(c.cmd.Process.Pid) - cpu0).Seconds() / window.Seconds()
	tgt1 := t.cpu()
	var tsum time.Duration
	for pid, v := range tgt1 {
		if v0, ok := tgt0[pid]; ok {
			tsum += v - v0
			r.targetProcs++
		}
	}
	r.targetCPU = tsum.Seconds() / window.Seconds()
	if tgt1 == nil {
		r.targetCPU = -1
	}
	r.rss = procRSS(c.cmd.Process.Pid)
	r.heap, r.stack, r.goroutines = c.goFigures()
	// Last: a forced GC changes what the figures above would show.
	if m, ok := c.mem(); ok {
		r.live = m.HeapAlloc
	}
	if profiles != "" {
		if err := c.saveProfiles(profiles, n); err != nil {
			log.Printf("profiles: %v", err)
		}
	}
	r.ticks = float64(len(frames)) / window.Seconds()
	if len(frames) > 0 {
		r.up = frames[len(frames)-1].Counts[0]
	}
	log.Printf("%d hosts: console %.3f cores, RSS %d MiB (idle %d MiB); targets %.3f cores", n, r.consoleCPU, r.rss>>20, r.idleRSS>>20, r.targetCPU)
	return r, nil
}

// drain reads ticks for d and returns them.
func drain[T any](ch <-chan T, d time.Duration) []T {
	var out []T
	end := time.After(d)
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, v)
		case <-end:
			return out
		}
	}
}

// targets are the OpenSSH servers.
type targets struct {
	dir, key, known string
	port            int
	sshds           []*exec.Cmd
}

// addrs returns n loopback addresses: 127.0.0.1-250, 127.0.1.1-250, ...
func addrs(n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		out = append(out, fmt.Sprintf("127.0.%d.%d", i/250, i%250+1))
	}
	return out
}

// fold writes the addresses as 127.0.0.1-250,127.0.1.1-250,...
func fold(hosts []string) string {
	var parts []string
	for first := 0; first < len(hosts); first += 250 {
		last := min(first+250, len(hosts)) - 1
		a, b := hosts[first], hosts[last]
		parts = append(parts, a+"-"+b[strings.LastIndexByte(b, '.')+1:])
	}
	return strings.Join(parts, ",")
}

func setup(dir string, n int) (*targets, error) {
	t := &targets{dir: dir, key: filepath.Join(dir, "id_ed25519"), known: filepath.Join(dir, "known_hosts")}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	for _, k := range []string{hostKey, t.key} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(t.key + ".pub")
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755)
	}
	for attempt := 0; ; attempt++ {
		t.port = 20000 + rand.IntN(12000)
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", t.port)); err != nil {
			continue
		} else {
			ln.Close()
		}
		line := fmt.Sprintf("[127.0.*]:%d %s", t.port, hostPub)
		if err := os.WriteFile(t.known, []byte(line), 0o600); err != nil {
			return nil, err
		}
		err = t.startSSHDs(addrs(n), hostKey, authorized)
		if err == nil {
			return t, nil
		}
		t.stop()
		if attempt == 4 {
			return nil, err
		}
		log.Printf("port %d: %v; trying another", t.port, err)
	}
}

// startSSHDs starts one sshd per 16 addresses, as bench/exec does.
func (t *targets) startSSHDs(all []string, hostKey, authorized string) error {
	for first := 0; first < len(all); first += 16 {
		group := all[first:min(first+16, len(all))]
		var conf strings.Builder
		fmt.Fprintf(&conf, "Port %d\n", t.port)
		for _, a := range group {
			fmt.Fprintf(&conf, "ListenAddress %s\n", a)
		}
		fmt.Fprintf(&conf, "HostKey %s\nAuthorizedKeysFile %s\nPidFile none\nStrictModes no\nUsePAM no\n"+
			"PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"+
			"MaxStartups 4000\nPerSourceMaxStartups none\nUseDNS no\nPrintMotd no\nPrintLastLog no\n"+
			"LogLevel ERROR\nSetEnv SHLVL=1\n", hostKey, authorized)
		path := filepath.Join(t.dir, fmt.Sprintf("sshd_config.%d", first))
		if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
			return err
		}
		cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			return err
		}
		t.sshds = append(t.sshds, cmd)
	}
	// Every address answers before the console dials.
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range all {
		for {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(a, strconv.Itoa(t.port)), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s:%d: %v", a, t.port, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func (t *targets) stop() {
	for _, c := range t.sshds {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
	}
	t.sshds = nil
}

// targetCPU returns the CPU time of every process below the sshd
// listeners, with what each has reaped, by pid.
func (t *targets) targetCPU() map[int]time.Duration {
	roots := map[int]bool{}
	for _, c := range t.sshds {
		roots[c.Process.Pid] = true
	}
	parent := map[int]int{}
	cpu := map[int]time.Duration{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := statFields(pid)
		if len(f) < 15 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		cpu[pid] = ticks(f[11], f[12], f[13], f[14])
	}
	out := map[int]time.Duration{}
	for pid := range parent {
		for p := parent[pid]; p > 1; p = parent[p] {
			if roots[p] {
				out[pid] = cpu[pid]
				break
			}
		}
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
}

// ticks sums clock ticks (USER_HZ, 100 on Linux).
func ticks(fields ...string) time.Duration {
	var total time.Duration
	for _, s := range fields {
		v, _ := strconv.ParseInt(s, 10, 64)
		total += time.Duration(v) * 10 * time.Millisecond
	}
	return total
}

// procCPU returns a process's own CPU time.
func procCPU(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	return ticks(f[11], f[12])
}

// procRSS returns a process's resident memory.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// console is a running wsdeck serve.
type console struct {
	cmd   *exec.Cmd
	base  string
	debug string // host:port of its debug handlers (see debug.go)
}

func startConsole(bin, dir string, t hostSet, profiles bool) (*console, error) {
	key, known, port := t.credentials()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--token", token, "--print-url",
		"--state-dir", filepath.Join(dir, "state"), "--log-level", "warn",
		"--port", strconv.Itoa(port), "--identity", key, "--known-hosts", known, "--ssh-config", "none")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") {
			env = append(env, kv)
		}
	}
	debug, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd.Env = append(env, debugEnv+"="+debug)
	if profiles {
		// A finer heap profile: one sample per 4 KiB allocated, not 512.
		cmd.Env = append(cmd.Env, debugEnv+"_MEMPROFILERATE=4096")
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &console{cmd: cmd, debug: debug}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, u, ok := strings.Cut(sc.Text(), "wsdeck console: open "); ok {
			c.base = u[:strings.Index(u, "/?")]
			go io.Copy(io.Discard, out)
			return c, nil
		}
	}
	c.stop()
	return nil, errors.New("the console printed no URL")
}

// goFigures reads the console's Go heap in use, stacks in use and
// goroutines from its /metrics.
func (c *console) goFigures() (heap, stack, goroutines int64) {
	req, _ := http.NewRequest("GET", c.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(v, 64)
		switch name {
		case "go_memstats_heap_inuse_bytes":
			heap = int64(f)
		case "go_memstats_stack_inuse_bytes":
			stack = int64(f)
		case "go_goroutines":
			goroutines = int64(f)
		}
	}
	return heap, stack, goroutines
}

func (c *console) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()
}

func markdown(rows []row, window time.Duration, kind, client string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Machine: %s, %d CPUs, %s/%s, %s; client: %s; targets: %s; window %v after every host was up.\n\n", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02 15:04 UTC"), client, kind, window)
	b.WriteString("| hosts | up | frames/s | console CPU (cores) | per host | console RSS | idle RSS | RSS per host | Go heap per host | live heap per host | stacks per host | goroutines per host | targets' CPU (cores) | per host | all up in |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		tgt, per := "–", "–"
		if r.targetCPU >= 0 {
			tgt, per = fmt.Sprintf("%.3f", r.targetCPU), fmt.Sprintf("%.2f ms/s", 1000*r.targetCPU/float64(r.hosts))
		}
		perHost := func(a, b int64) float64 { return float64(a-b) / 1024 / float64(r.hosts) }
		live := "–"
		if r.live > 0 {
			live = fmt.Sprintf("%.1f KiB", perHost(r.live, r.idleLive))
		}
		fmt.Fprintf(&b, "| %d | %d | %.2f | %.3f | %.2f ms/s | %.1f MiB | %.1f MiB | %.1f KiB | %.1f KiB | %s | %.1f KiB | %.1f | %s | %s | %.1f s |\n",
			r.hosts, r.up, r.ticks, r.consoleCPU, 1000*r.consoleCPU/float64(r.hosts),
			float64(r.rss)/(1<<20), float64(r.idleRSS)/(1<<20), perHost(r.rss, r.idleRSS),
			perHost(r.heap, r.idleHeap), live, perHost(r.stack, r.idleStack), float64(r.goroutines-r.idleGoroutines)/float64(r.hosts),
			tgt, per, r.connectedInSecs)
	}
	return b.String()
}
