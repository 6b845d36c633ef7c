package main

import (
	"flag"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// sshFlags defines the SSH settings that wsdeck exec and the console's Exec
// share, on fs, into c.
func sshFlags(fs *flag.FlagSet, c *batch.Config) {
	fs.StringVar(&c.User, "user", "", "remote user for hosts without user@ (default: ssh config, else you)")
	fs.IntVar(&c.Port, "port", 0, "port for hosts without :port (default: ssh config, else 22)")
	fs.Func("identity", "private key `file` to try first (repeatable; then ssh-agent, then ~/.ssh/id_*)", func(v string) error {
		c.Identities = append(c.Identities, v)
		return nil
	})
	fs.Func("known-hosts", "known_hosts `file` instead of ~/.ssh/known_hosts (repeatable)", func(v string) error {
		c.KnownHosts = append(c.KnownHosts, v)
		return nil
	})
	fs.BoolVar(&c.AcceptNew, "accept-new", false, "trust and record the key of hosts known_hosts does not know (a changed key still fails)")
	fs.StringVar(&c.SSHConfig, "ssh-config", "", "ssh config `file` for HostName, User, Port, IdentityFile (default ~/.ssh/config and /etc/ssh/ssh_config; none: no file)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", batch.DefaultConnectTimeout, "bound on connecting, handshake and authentication")
	fs.DurationVar(&c.CommandTimeout, "timeout", 0, "stop commands running longer (0: no limit)")
	fs.DurationVar(&c.KillGrace, "kill-grace", batch.DefaultKillGrace, "time between SIGTERM and SIGKILL when stopping a command")
	fs.IntVar(&c.Fanout, "fanout", batch.DefaultFanout, "most hosts at once")
	fs.Int64Var(&c.MaxOutput, "max-output", batch.DefaultMaxOutput, "bytes of output kept per host; the rest is counted and dropped")
	fs.BoolVar(&c.RawCommand, "raw", false, "send the command without the /bin/sh watchdog that stops it on cancel (for servers without /bin/sh)")
}
