package procstat

import (
	"fmt"
	"time"
)

// Section markers the loop prints before each file, and the marker that
// ends a sample. They begin with '@', which no line of those files does.
const (
	markBegin   = "@wsdeck-fleet 1" // a sample starts; 1 is the format's version
	markStat    = "@stat"
	markMeminfo = "@meminfo"
	markLoadavg = "@loadavg"
	markUptime  = "@uptime"
	markNetdev  = "@netdev"
	markDf      = "@df"
	markEnd     = "@end"
)

// Loop returns the POSIX shell loop run on a target: once per interval
// (whole seconds, at least 1), it prints a marked sample of /proc/stat,
// /proc/meminfo, /proc/loadavg, /proc/uptime, /proc/net/dev and df -P /.
// It needs a POSIX sh, cat, df and sleep, and nothing else. Errors go to
// /dev/null (a missing file shows as an empty section). It ends when its
// output can no longer be written: when the session closes, the next
// printf gets SIGPIPE or EPIPE.
func Loop(interval time.Duration) string {
	secs := max(int(interval/time.Second), 1)
	return fmt.Sprintf(`exec 2>/dev/null; while :; do `+
		`printf '%s\n%s\n'; cat /proc/stat; `+
		`printf '%s\n'; cat /proc/meminfo; `+
		`printf '%s\n'; cat /proc/loadavg; `+
		`printf '%s\n'; cat /proc/uptime; `+
		`printf '%s\n'; cat /proc/net/dev; `+
		`printf '%s\n'; df -P /; `+
		`printf '%s\n' || exit; sleep %d || exit; done`,
		markBegin, markStat, markMeminfo, markLoadavg, markUptime, markNetdev, markDf, markEnd, secs)
}
