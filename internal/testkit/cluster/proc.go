package cluster

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the wait for a part to be ready: generous, for a
// loaded 2-core machine. Nothing here measures time.
const startTimeout = 60 * time.Second

// proc is one run of a part's process. Its output goes to a log file that
// every run of the part appends to.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // set before exited is closed
}

// startProc starts name with args, its output appended to logPath. The
// process is killed when owner is done (the test that made the part, not
// a subtest that restarts it); t gets the failures.
func startProc(t, owner testing.TB, logPath, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s %s\n", bin, strings.Join(args, " "))
	p := &proc{name: filepath.Base(logPath), log: logPath, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the test binary dies
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	owner.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// tail returns the last lines of the process's log, for a failure message.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// waitReady polls ready until it returns nil, failing t if the process
// exits or startTimeout passes first.
func (p *proc) waitReady(t testing.TB, what string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		if !p.running() {
			t.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.err, what, p.tail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %v: %v\n%s", p.name, what, startTimeout, err, p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePort returns a TCP port free on every one of hosts (loopback
// addresses) at the time of the call.
func FreePort(t testing.TB, hosts ...string) int {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	for range 100 {
		if port, ok := tryPort(hosts); ok {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", hosts)
	return 0
}

func tryPort(hosts []string) (int, bool) {
	first, err := net.Listen("tcp", net.JoinHostPort(hosts[0], "0"))
	if err != nil {
		return 0, false
	}
	defer first.Close()
	port := first.Addr().(*net.TCPAddr).Port
	var rest []io.Closer
	defer func() {
		for _, c := range rest {
			c.Close()
		}
	}()
	for _, h := range hosts[1:] {
		l, err := net.Listen("tcp", net.JoinHostPort(h, fmt.Sprint(port)))
		if err != nil {
			return 0, false
		}
		rest = append(rest, l)
	}
	return port, true
}
