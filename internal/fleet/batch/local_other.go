//go:build !unix

package batch

import (
	"os"
	"os/exec"
)

func newProcessGroup(cmd *exec.Cmd) {}

// signalGroup kills the process: there are no process groups to signal.
func signalGroup(p *os.Process, name string) {
	if name == "KILL" {
		p.Kill()
	}
}

func signalName(ps *os.ProcessState) (string, bool) { return "", false }
