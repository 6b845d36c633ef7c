//go:build unix

package batch

import (
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func newProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends SIGname to p's process group.
func signalGroup(p *os.Process, name string) {
	if sig := unix.SignalNum("SIG" + name); sig != 0 {
		syscall.Kill(-p.Pid, sig)
	}
}

// signalName returns the name, without SIG, of the signal that ended the
// process, if one did.
func signalName(ps *os.ProcessState) (string, bool) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG"), true
	}
	return "", false
}
