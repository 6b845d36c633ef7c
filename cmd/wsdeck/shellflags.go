package main

import (
	"flag"

	"github.com/wsdeck/wsdeck/internal/console/shell"
)

// shellFlags defines the Shell tab's limits (package shell) on fs, into o.
// Its SSH settings and ceiling are Exec's (--user, --identity,
// --known-hosts, --allow-hosts, ...).
func shellFlags(fs *flag.FlagSet, o *shell.Options) {
	fs.DurationVar(&o.Grace, "shell-grace", shell.DefaultGrace, "Shell: how long a terminal with no page attached keeps running before it is hung up (a page that comes back within it reattaches)")
	fs.DurationVar(&o.HangupWait, "shell-hangup-wait", shell.DefaultHangupWait, "Shell: how long a local shell that was hung up (SIGHUP) may take to exit before it is killed (SIGKILL)")
	fs.IntVar(&o.Scrollback, "shell-scrollback", shell.DefaultScrollback, "Shell: bytes of a terminal's newest output kept and replayed to a page that attaches")
	fs.Int64Var(&o.HighWater, "shell-high-water", shell.DefaultHighWater, "Shell: a terminal's output pauses when its owner's page has this many bytes sent and not drawn")
	fs.Int64Var(&o.LowWater, "shell-low-water", shell.DefaultLowWater, "Shell: paused output resumes when every owner's page is below this many bytes not drawn")
	fs.Int64Var(&o.WatcherLimit, "shell-watcher-limit", shell.DefaultWatcherLimit, "Shell: bytes a read-only watcher may fall behind before it is detached (watchers never pause the output)")
	fs.IntVar(&o.MaxSessions, "shell-max-sessions", shell.DefaultMaxSessions, "Shell: terminals running at once on this node")
	fs.IntVar(&o.MaxBroadcast, "shell-max-broadcast", shell.DefaultMaxBroadcast, "Shell: most hosts of one broadcast (one pane each, typed into at once)")
	fs.Float64Var(&o.ControlRate, "shell-control-rate", shell.DefaultControlRate, "Shell: control messages a second one page's socket may send (bursts of twice that; acks and typing are not counted)")
	fs.StringVar(&o.LocalShell, "shell-local", "", "Shell: the `program` of a local terminal, for admins (default $SHELL, else /bin/sh)")
}
