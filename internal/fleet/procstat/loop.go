package procstat

import (
	"strconv"
	"strings"
	"time"
)

// Markers: the loop prints markBegin before each sample, markDf before
// df's output and markEnd after it, and a "==> FILE <==" header (as head
// prints) before the lines of each file. Lines of those files never begin
// so.
const (
	markBegin = "@wsdeck-fleet 1" // a sample starts; 1 is the format's version
	markDf    = "@df"
	markEnd   = "@end"
)

// files are the files the loop reads, in order, by their headers.
var files = map[string]string{
	"==> /proc/stat <==":    "stat",
	"==> /proc/meminfo <==": "meminfo",
	"==> /proc/loadavg <==": "loadavg",
	"==> /proc/uptime <==":  "uptime",
	"==> /proc/net/dev <==": "netdev",
}

// DfEvery is how many samples the loop prints the same df output in: df
// runs once every DfEvery samples (the root filesystem's use moves
// slowly; it is the loop's one process besides sleep).
const DfEvery = 10

// loopBody is the script sh runs; "SECS" and "DFEVERY" are replaced. It
// has no single quote (it goes inside one), and no newline or ! (a csh
// login shell refuses a newline inside quotes, and expands !).
const loopBody = `exec 2>/dev/null; nl=$(printf "\n_"); nl=${nl%_}; n=0; ` +
	`while :; do ` +
	`if [ $n = 0 ]; then d=$(df -P /); fi; n=$(((n+1)%DFEVERY)); ` +
	`s="@wsdeck-fleet 1$nl==> /proc/stat <=="; ` +
	`while read -r l; do case $l in cpu*|btime*) s="$s$nl$l";; esac; done </proc/stat; ` +
	`s="$s$nl==> /proc/meminfo <=="; ` +
	`while read -r l; do s="$s$nl$l"; case $l in Cached:*) break;; esac; done </proc/meminfo; ` +
	`l=; read -r l </proc/loadavg; s="$s$nl==> /proc/loadavg <==$nl$l"; ` +
	`l=; read -r l </proc/uptime; s="$s$nl==> /proc/uptime <==$nl$l"; ` +
	`s="$s$nl==> /proc/net/dev <=="; while read -r l; do s="$s$nl$l"; done </proc/net/dev; ` +
	`printf "%s\n@df\n%s\n@end\n" "$s" "$d" || exit; ` +
	`sleep SECS || exit; done`

// Loop returns the command run on a target: it starts sh, whatever the
// login shell, on a loop that once per interval (whole seconds, at least
// 1) prints a marked sample: the lines it needs of /proc/stat (the cpu
// lines and btime), /proc/meminfo (up to Cached), /proc/loadavg,
// /proc/uptime and /proc/net/dev, read with the shell's read, and the
// output of df -P /, run once every DfEvery samples. A shell whose printf
// writes once (dash, busybox ash) sends each sample in one write. It
// needs a POSIX sh, df and sleep: one short process a sample, and df's
// now and then. Errors go to /dev/null (a missing file has an empty
// section). It ends when its output can no longer be written: when the
// session closes, the next printf fails or gets SIGPIPE.
func Loop(interval time.Duration) string {
	secs := max(int(interval/time.Second), 1)
	body := strings.NewReplacer("SECS", strconv.Itoa(secs), "DFEVERY", strconv.Itoa(DfEvery)).Replace(loopBody)
	return "exec sh -c '" + body + "'"
}
