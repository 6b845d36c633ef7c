// Command exec compares wsdeck exec with pdsh and parallel-ssh: the same
// command on 100 and 1 000 loopback hosts, against the same OpenSSH
// server, at the same fan-out. It reports wall time and the CPU time of
// each client (its process and every process it waited for: pdsh's and
// parallel-ssh's ssh children count), and the server's CPU, as a
// Markdown table.
//
// It needs /usr/sbin/sshd, ssh-keygen, pdsh and parallel-ssh (Debian:
// apt install openssh-server pdsh pssh) and runs the OpenSSH servers it
// starts on 127.0.0.0/8 only: one sshd per 16 addresses (OpenSSH's
// MAX_LISTEN_SOCKS), all on one port.
//
//	cd bench/exec && go run . -wsdeck /path/to/wsdeck -out ../EXEC-RESULTS.md
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	wsdeck := flag.String("wsdeck", "", "wsdeck binary (default: build ../../cmd/wsdeck)")
	sizes := flag.String("hosts", "100,1000", "host counts to measure")
	fanout := flag.Int("fanout", 64, "fan-out of every tool")
	reps := flag.Int("reps", 3, "runs of each tool at each size (the median is reported)")
	command := flag.String("command", "uname -n", "the command run on every host")
	out := flag.String("out", "", "write the Markdown report here too")
	kex := flag.String("kex", "", "KexAlgorithms for the OpenSSH client of pdsh and parallel-ssh (default: its own; wsdeck's x/crypto gets curve25519-sha256 from OpenSSH 9.2)")
	flag.Parse()
	log.SetFlags(0)

	dir, err := os.MkdirTemp("", "wsdeck-bench-exec-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if *wsdeck == "" {
		*wsdeck = filepath.Join(dir, "wsdeck")
		build := exec.Command("go", "build", "-o", *wsdeck, "./cmd/wsdeck")
		build.Dir = "../.."
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			log.Fatalf("building wsdeck: %v", err)
		}
	}
	var counts []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 4000 {
			log.Fatalf("bad host count %q", s)
		}
		counts = append(counts, n)
	}

	b, err := setup(dir, slices.Max(counts))
	if err != nil {
		log.Fatal(err)
	}
	b.kex = *kex
	defer b.stop()

	var rows []row
	for _, n := range counts {
		hosts := addrs(n)
		tools := []tool{
			b.wsdeck(*wsdeck, hosts, *fanout, *command, false),
			b.wsdeck(*wsdeck, hosts, *fanout, *command, true),
			b.pdsh(hosts, *fanout, *command),
			b.pssh(hosts, *fanout, *command),
		}
		runs := map[string][]measure{}
		// Interleave the tools so that a change in the machine's load
		// falls on all of them.
		for r := 0; r < *reps; r++ {
			for _, t := range tools {
				m, err := b.run(t, n)
				if err != nil {
					log.Fatalf("%s on %d hosts: %v", t.name, n, err)
				}
				log.Printf("%-12s %5d hosts  wall %7.2fs  client cpu %7.2fs  server cpu %7.2fs", t.name, n,
					m.wall.Seconds(), m.cpu.Seconds(), m.server.Seconds())
				runs[t.name] = append(runs[t.name], m)
			}
		}
		for _, t := range tools {
			rows = append(rows, row{tool: t.name, hosts: n, m: median(runs[t.name])})
		}
	}
	report := markdown(rows, *fanout, *reps, *command, *kex)
	fmt.Print(report)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// bench holds the servers and the client files.
type bench struct {
	dir       string
	port      int
	key       string // the client's private key
	known     string // known_hosts: a wildcard line for the servers' key
	sshds     []*exec.Cmd
	sshConfig string // an empty ssh config for the OpenSSH client
	kex       string // KexAlgorithms for the OpenSSH client, or ""
}

// addrs returns n loopback addresses: 127.0.0.1-250, 127.0.1.1-250, ...
func addrs(n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		out = append(out, fmt.Sprintf("127.0.%d.%d", i/250, i%250+1))
	}
	return out
}

func setup(dir string, n int) (*bench, error) {
	b := &bench{dir: dir, key: filepath.Join(dir, "id_ed25519"), known: filepath.Join(dir, "known_hosts"),
		sshConfig: filepath.Join(dir, "ssh_config")}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	for _, k := range []string{hostKey, b.key} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(b.key + ".pub")
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
	if err := os.WriteFile(b.sshConfig, nil, 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755)
	}
	all := addrs(n)
	for attempt := 0; ; attempt++ {
		b.port, err = freePort()
		if err != nil {
			return nil, err
		}
		line := fmt.Sprintf("[127.0.*]:%d %s", b.port, hostPub)
		if err := os.WriteFile(b.known, []byte(line), 0o600); err != nil {
			return nil, err
		}
		err = b.startSSHDs(all, hostKey, authorized)
		if err == nil {
			return b, nil
		}
		b.stop()
		if attempt == 4 {
			return nil, err
		}
		log.Printf("port %d: %v; trying another", b.port, err)
	}
}

// freePort picks a port below the ephemeral range (32768 and up on
// Linux), which outgoing connections never take as their source port, and
// checks that it is free on 127.0.0.1.
func freePort() (int, error) {
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port in 20000-31999")
}

// startSSHDs starts one sshd per 16 addresses. SHLVL=1 keeps Debian's
// bash from sourcing ~/.bashrc in each session (see the batch package's
// OpenSSH test); MaxStartups is raised for the fan-out.
func (b *bench) startSSHDs(all []string, hostKey, authorized string) error {
	for first := 0; first < len(all); first += 16 {
		group := all[first:min(first+16, len(all))]
		var conf strings.Builder
		fmt.Fprintf(&conf, "Port %d\n", b.port)
		for _, a := range group {
			fmt.Fprintf(&conf, "ListenAddress %s\n", a)
		}
		fmt.Fprintf(&conf, "HostKey %s\nAuthorizedKeysFile %s\nPidFile none\nStrictModes no\nUsePAM no\n"+
			"PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"+
			"MaxStartups 4000\nPerSourceMaxStartups none\nMaxSessions 10\nUseDNS no\nPrintMotd no\nPrintLastLog no\n"+
			"LogLevel INFO\nSetEnv SHLVL=1\n", hostKey, authorized)
		path := filepath.Join(b.dir, fmt.Sprintf("sshd_config.%d", first))
		if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
			return err
		}
		cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", path)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		b.sshds = append(b.sshds, cmd)
		if err := waitListening(stderr, b.port, len(group)); err != nil {
			return err
		}
	}
	return nil
}

func waitListening(r io.Reader, port, want int) error {
	sc := bufio.NewScanner(r)
	listening := 0
	for listening < want && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Server listening on ") && strings.HasSuffix(line, fmt.Sprintf(" port %d.", port)):
			listening++
		case strings.Contains(line, "failed"), strings.Contains(line, "Cannot bind"):
			go io.Copy(io.Discard, r)
			return errors.New(line)
		}
	}
	go io.Copy(io.Discard, r)
	if listening < want {
		return fmt.Errorf("sshd exited before listening")
	}
	return nil
}

func (b *bench) stop() {
	for _, c := range b.sshds {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
	}
	b.sshds = nil
}

// serverCPU returns the CPU time of the sshd processes and of the
// connection processes they have reaped.
func (b *bench) serverCPU() time.Duration {
	tick := 10 * time.Millisecond // a clock tick: USER_HZ is 100 on Linux
	var total time.Duration
	for _, c := range b.sshds {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		// Fields after the name: utime 12, stime 13, cutime 14, cstime 15 (1-based 14..17 in proc(5)).
		for _, i := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			total += time.Duration(v) * tick
		}
	}
	return total
}

// tool is one client's command line for a job.
type tool struct {
	name string
	cmd  func() *exec.Cmd
}

func (b *bench) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// wsdeck runs wsdeck exec; raw leaves out the watchdog wrapped around the
// command (one /bin/sh more per host on the server), to show its cost.
func (b *bench) wsdeck(bin string, hosts []string, fanout int, command string, raw bool) tool {
	expr := fold(hosts)
	name := "wsdeck"
	if raw {
		name = "wsdeck --raw"
	}
	return tool{name, func() *exec.Cmd {
		c := exec.Command(bin, "exec", "--fanout", strconv.Itoa(fanout), "--port", strconv.Itoa(b.port),
			"--identity", b.key, "--known-hosts", b.known, "--ssh-config", "none", "--color", "never",
			"--raw="+strconv.FormatBool(raw), expr, "--", command)
		c.Env = b.env()
		return c
	}}
}

// sshOptions are the OpenSSH client's options for pdsh and parallel-ssh:
// the same key, the same known_hosts and the same strict checking as
// wsdeck, no config file, no agent.
func (b *bench) sshOptions() []string {
	opts := []string{"-F", b.sshConfig, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + b.known, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
		"-i", b.key, "-p", strconv.Itoa(b.port), "-o", "ConnectTimeout=10"}
	if b.kex != "" {
		opts = append(opts, "-o", "KexAlgorithms="+b.kex)
	}
	return opts
}

func (b *bench) pdsh(hosts []string, fanout int, command string) tool {
	return tool{"pdsh", func() *exec.Cmd {
		c := exec.Command("pdsh", "-R", "ssh", "-f", strconv.Itoa(fanout), "-w", fold(hosts), command)
		c.Env = b.env("PDSH_SSH_ARGS=" + strings.Join(b.sshOptions(), " ") + " -l%u %h")
		return c
	}}
}

func (b *bench) pssh(hosts []string, fanout int, command string) tool {
	file := filepath.Join(b.dir, fmt.Sprintf("hosts.%d", len(hosts)))
	os.WriteFile(file, []byte(strings.Join(hosts, "\n")+"\n"), 0o600)
	return tool{"parallel-ssh", func() *exec.Cmd {
		args := []string{"-p", strconv.Itoa(fanout), "-h", file, "-P", "-t", "120"}
		for _, o := range b.sshOptions() {
			args = append(args, "-x", o)
		}
		c := exec.Command("parallel-ssh", append(args, command)...)
		c.Env = b.env()
		return c
	}}
}

// fold writes the addresses as 127.0.0.[1-250],127.0.1.[1-250], a form
// both wsdeck and pdsh read.
func fold(hosts []string) string {
	var groups []string
	var prefix string
	var lo, hi int
	flush := func() {
		if prefix != "" {
			groups = append(groups, fmt.Sprintf("%s[%d-%d]", prefix, lo, hi))
		}
	}
	for _, h := range hosts {
		i := strings.LastIndexByte(h, '.')
		p, n := h[:i+1], atoi(h[i+1:])
		if p == prefix && n == hi+1 {
			hi = n
			continue
		}
		flush()
		prefix, lo, hi = p, n, n
	}
	flush()
	return strings.Join(groups, ",")
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

type measure struct {
	wall, cpu, server time.Duration
}

// run runs one job and checks that every host answered.
func (b *bench) run(t tool, n int) (measure, error) {
	cmd := t.cmd()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := b.serverCPU()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measure{}, fmt.Errorf("%v: %s", err, tail(stderr.String()))
	}
	lines := 0
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(l, ": ") { // "host: output", as all three print with these flags
			lines++
		}
	}
	if lines != n {
		return measure{}, fmt.Errorf("%d output lines for %d hosts: %s", lines, n, tail(stdout.String()+stderr.String()))
	}
	// Connection processes are reaped by sshd soon after the client ends.
	time.Sleep(500 * time.Millisecond)
	u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(u.Utime.Nano() + u.Stime.Nano())
	return measure{wall: wall, cpu: cpu, server: b.serverCPU() - before}, nil
}

func tail(s string) string {
	if len(s) > 600 {
		return "..." + s[len(s)-600:]
	}
	return s
}

func median(ms []measure) measure {
	pick := func(f func(measure) time.Duration) time.Duration {
		v := make([]time.Duration, len(ms))
		for i, m := range ms {
			v[i] = f(m)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return measure{
		wall:   pick(func(m measure) time.Duration { return m.wall }),
		cpu:    pick(func(m measure) time.Duration { return m.cpu }),
		server: pick(func(m measure) time.Duration { return m.server }),
	}
}

type row struct {
	tool  string
	hosts int
	m     measure
}

func markdown(rows []row, fanout, reps int, command, kex string) string {
	var b strings.Builder
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "| hosts | tool | wall | client CPU | server CPU | wall vs wsdeck | client CPU vs wsdeck |\n")
	fmt.Fprintf(&b, "|---:|---|---:|---:|---:|---:|---:|\n")
	base := map[int]measure{}
	for _, r := range rows {
		if r.tool == "wsdeck" {
			base[r.hosts] = r.m
		}
	}
	for _, r := range rows {
		w := base[r.hosts]
		fmt.Fprintf(&b, "| %d | %s | %.2f s | %.2f s | %.2f s | %.2f× | %.2f× |\n", r.hosts, r.tool,
			r.m.wall.Seconds(), r.m.cpu.Seconds(), r.m.server.Seconds(),
			r.m.wall.Seconds()/w.wall.Seconds(), r.m.cpu.Seconds()/w.cpu.Seconds())
	}
	if kex == "" {
		kex = "its default"
	}
	fmt.Fprintf(&b, "\nCommand `%s`, fan-out %d for every tool, median of %d runs, OpenSSH client key exchange: %s; load average at the end: %s",
		command, fanout, reps, kex, load)
	return b.String()
}
