package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// startWrapped runs command under the watchdog as sshd would: the login
// shell (here /bin/sh) given the wrapped line, in a session of its own,
// with a pipe as stdin.
func startWrapped(t *testing.T, command string) (*exec.Cmd, io.WriteCloser, *bytes.Buffer) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	cmd := exec.Command("/bin/sh", "-c", wrapCommand(command, time.Second))
	cmd.Env = append(os.Environ(), "SHELL=/bin/sh")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd, stdin, &out
}

func TestWatchdogKeepsTheCommand(t *testing.T) {
	t.Parallel()
	cmd, stdin, out := startWrapped(t, `printf '%s\n' "it's" '$HOME' "a\\b"; exit 7`)
	defer stdin.Close()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("exit: %v", err)
	}
	if want := "it's\n$HOME\na\\b\n"; out.String() != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestWatchdogKeepsTheSignal(t *testing.T) {
	t.Parallel()
	cmd, stdin, _ := startWrapped(t, `kill -USR1 $$`)
	defer stdin.Close()
	cmd.Wait()
	if sig, ok := signalName(cmd.ProcessState); !ok || sig != "USR1" {
		t.Errorf("ended by %q (%v), want USR1: the command must keep the wrapper's pid", sig, cmd.ProcessState)
	}
}

// TestWatchdogStops: closing stdin ends a running command and its
// children with SIGTERM, at once.
func TestWatchdogStops(t *testing.T) {
	t.Parallel()
	marker := fmt.Sprintf("wsdeck-watchdog-%d", time.Now().UnixNano())
	cmd, stdin, _ := startWrapped(t, "sleep 300 & sleep 300; : "+marker)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stdin.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the command is still running 10s after stdin closed")
	}
	if sig, ok := signalName(cmd.ProcessState); !ok || sig != "TERM" {
		t.Errorf("ended by %q (%v), want TERM", sig, cmd.ProcessState)
	}
	sshtest.Eventually(t, 10*time.Second, "processes of the command left", func() bool { return len(sshtest.ProcessesWith(marker)) == 0 })
}

// TestWatchdogLeavesFinished: once the command has ended, the end of stdin
// stops nothing: its background children are its own business.
func TestWatchdogLeavesFinished(t *testing.T) {
	t.Parallel()
	marker := fmt.Sprintf("wsdeck-watchdog-%d", time.Now().UnixNano())
	cmd, stdin, out := startWrapped(t, "sleep 300 >/dev/null 2>&1 & echo $!; : "+marker)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("output %q", out)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	stdin.Close()
	// The watcher runs with the wrapper's arguments, marker included; the
	// child is a plain "sleep 300". Wait for the watcher to go.
	sshtest.Eventually(t, 10*time.Second, "the watcher did not exit", func() bool { return len(sshtest.ProcessesWith(marker)) == 0 })
	if !sshtest.Alive(pid) {
		t.Errorf("the background child %d of a finished command was killed", pid)
	}
}
