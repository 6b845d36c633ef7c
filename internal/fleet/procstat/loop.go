package procstat

import (
	"fmt"
	"time"
)

// Markers: the loop prints markBegin before each sample, markDf before
// df's output and markEnd after it; head prints a "==> FILE <==" header
// before each of the files. Lines of those files never begin so.
const (
	markBegin = "@wsdeck-fleet 1" // a sample starts; 1 is the format's version
	markDf    = "@df"
	markEnd   = "@end"
)

// files are the files the loop reads, in order, by the header head gives
// each.
var files = map[string]string{
	"==> /proc/stat <==":    "stat",
	"==> /proc/meminfo <==": "meminfo",
	"==> /proc/loadavg <==": "loadavg",
	"==> /proc/uptime <==":  "uptime",
	"==> /proc/net/dev <==": "netdev",
}

// Loop returns the POSIX shell loop run on a target: once per interval
// (whole seconds, at least 1), it prints a marked sample of /proc/stat,
// /proc/meminfo, /proc/loadavg, /proc/uptime and /proc/net/dev (one head
// process for the five files, which prints a header before each) and of
// df -P /. It needs a POSIX sh, head, df and sleep: three short
// processes a second. Errors go to /dev/null (a missing file has no
// section). It ends when its output can no longer be written: when the
// session closes, the next printf fails or gets SIGPIPE.
func Loop(interval time.Duration) string {
	secs := max(int(interval/time.Second), 1)
	return fmt.Sprintf(`exec 2>/dev/null; while :; do `+
		`printf '%s\n' || exit; `+
		`head -n 100000 /proc/stat /proc/meminfo /proc/loadavg /proc/uptime /proc/net/dev; `+
		`printf '%s\n'; df -P /; `+
		`printf '%s\n' || exit; sleep %d || exit; done`,
		markBegin, markDf, markEnd, secs)
}
