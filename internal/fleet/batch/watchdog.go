package batch

import (
	"strconv"
	"strings"
	"time"
)

// watchdog is the /bin/sh script wrapped around every remote command
// (unless Config.RawCommand). It makes the command end when the session's
// stdin ends: the client closes stdin to cancel, and sshd closes it when
// the connection drops. Signals alone are not enough: OpenSSH refuses
// "signal" requests in sessions without privilege separation, which is
// every root login, and nothing at all is sent when a connection is lost.
//
// The script keeps the session's stdin on fd 3 for a watcher in the
// background, then execs the command with the login shell, in place, so
// the command keeps sshd's pid, the process group sshd made for the
// session, its exit status and its stdout and stderr. The command's own
// stdin is /dev/null, as it would be without the wrapper in a batch job.
// When stdin ends while the command still runs, the watcher sends SIGTERM
// to the group, waits (checking each second) until the command has gone
// or the grace period ($2 seconds) has passed, and sends SIGKILL to what
// is left of the group, itself included. A command that has ended is left
// alone, and so are its background children. It avoids ' and ! so that it can be quoted for any login
// shell (sh, bash, zsh, fish, csh).
const watchdog = `exec 3<&0; W=$$; { trap "" TERM; while read -r x; do :; done <&3; ` +
	`if kill -0 $W; then kill -TERM -$W; n=0; while kill -0 $W && [ $n -lt $2 ]; do sleep 1; n=$((n+1)); done; ` +
	`kill -KILL -$W; fi; } >/dev/null 2>&1 & ` +
	`exec 3<&- "${SHELL:-/bin/sh}" -c "$1" </dev/null`

// watchdogPrefix starts every wrapped command.
const watchdogPrefix = "exec /bin/sh -c "

// wrapCommand returns the command line that runs command under the
// watchdog with the given grace before SIGKILL.
func wrapCommand(command string, grace time.Duration) string {
	secs := int((grace + time.Second - 1) / time.Second)
	return watchdogPrefix + shellQuote(watchdog) + " wsdeck " + shellQuote(command) + " " + strconv.Itoa(max(secs, 1))
}

// shellQuote quotes s for a POSIX shell (and fish, and csh for one-line
// strings): in single quotes, each single quote written as quote,
// backslash, quote, quote (close, escaped quote, reopen).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
