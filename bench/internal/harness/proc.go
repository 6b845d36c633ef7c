package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsdeck/wsdeck/bench/internal/server"
)

// proc is a server running in a subprocess of its own, so that its CPU
// time and memory are its own and not the load generator's.
type proc struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tail
	addr   string
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times; 100 on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// startServer runs the harness's own binary as the named server.
func startServer(name string, opts server.Options) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve", name, "-mode", string(opts.Mode),
		"-compress="+strconv.FormatBool(opts.Compress), "-addr", "127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, stderr: new(tail)}
	cmd.Stderr = p.stderr
	if p.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = bufio.NewReader(stdout)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := p.readLine(10 * time.Second)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%s server did not start: %w%s", name, err, p.stderr.String())
	}
	addr, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		p.stop()
		return nil, fmt.Errorf("%s server: %q", name, line)
	}
	p.addr = addr
	return p, nil
}

// readLine reads a line of the server's output, within timeout.
func (p *proc) readLine(timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	c := make(chan result, 1)
	go func() {
		line, err := p.out.ReadString('\n')
		c <- result{strings.TrimSpace(line), err}
	}()
	select {
	case r := <-c:
		return r.line, r.err
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		return "", errors.New("no answer in time; killed")
	}
}

// command sends a command and returns the answer.
func (p *proc) command(cmd string) (string, error) {
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		return "", err
	}
	line, err := p.readLine(60 * time.Second)
	if err != nil {
		return "", err
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", errors.New(msg)
	}
	return line, nil
}

// stats returns the server's Go runtime statistics, after a GC.
func (p *proc) stats() (server.Stats, error) {
	var s server.Stats
	line, err := p.command("stats")
	if err != nil {
		return s, err
	}
	err = json.Unmarshal([]byte(line), &s)
	return s, err
}

func (p *proc) startProfile(path string) error {
	_, err := p.command("profile " + path)
	return err
}

func (p *proc) stopProfile() error {
	_, err := p.command("stop-profile")
	return err
}

// cpu returns the user and system CPU time the server has used.
func (p *proc) cpu() (time.Duration, error) { return pidCPU(p.cmd.Process.Pid) }

// pidCPU returns the user and system CPU time process pid has used.
func pidCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// rss returns the server's resident set size in bytes.
func (p *proc) rss() (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// stop ends the server: closing its stdin makes it exit; it is killed if
// it has not within a few seconds.
func (p *proc) stop() {
	p.in.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// tail keeps the last few KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

// String returns the kept output as a suffix for an error message.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == 0 {
		return ""
	}
	return "\nserver stderr:\n" + string(t.buf)
}

// selfCPU returns the CPU time this process (the load generator) has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the CPU time all processes on the machine have used,
// from /proc/stat; what is not the server's or ours is other work.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest times are already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick
}

// netDrops returns the packets the kernel has dropped because a CPU's
// input backlog was full (the second column of /proc/net/softnet_stat,
// summed over CPUs). On loopback a burst of thousands of small writes can
// overflow it (net.core.netdev_max_backlog, 1000 by default), and TCP then
// waits for a retransmission timeout: hundreds of milliseconds, seconds
// after repeated losses.
func netDrops() int64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var n int64
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 1 {
			v, _ := strconv.ParseInt(f[1], 16, 64)
			n += v
		}
	}
	return n
}
