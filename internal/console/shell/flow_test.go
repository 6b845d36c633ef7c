package shell

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/poll"
)

// TestFlowControl: `yes` into a page that does not ack what it draws
// fills the high watermark and stops there; acking resumes the output.
func TestFlowControl(t *testing.T) {
	const high, low = 64 << 10, 16 << 10
	reg := NewRegistry(Options{Node: "n1", HighWater: high, LowWater: low, ReadSize: 4 << 10, LocalShell: "/bin/sh"})
	url := serve(t, reg)
	c := dial(t, url, "admin")
	ch, id := c.open("local")
	s := reg.Get(id)
	c.typeIn(ch, "echo ready-$((1+2))\n")
	c.waitFor(ch, "ready-3")

	c.mu.Lock()
	c.noAck = true
	c.mu.Unlock()
	c.typeIn(ch, "yes\n")
	poll.Until(t, 30*time.Second, "the output to pause", func() bool { p, _ := s.Paused(); return p })
	_, pauses := s.Paused()
	// Paused: what the page got and did not ack stays within the high
	// watermark and one read.
	s.mu.Lock()
	var inflight int64
	for a := range s.atts {
		inflight = a.inflight
	}
	s.mu.Unlock()
	if inflight > high+4<<10 {
		t.Errorf("%d bytes in flight, past the high watermark %d and one read", inflight, high)
	}
	poll.Until(t, 10*time.Second, "the page to receive what was sent", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.unread >= inflight-int64(len("ready-3"))*4 && c.unread > 0
	})

	// Ack it all: the output resumes, and pauses again.
	c.mu.Lock()
	unread := c.unread
	c.unread = 0
	c.mu.Unlock()
	c.send(map[string]any{"type": "ack", "ch": ch, "bytes": unread})
	poll.Until(t, 30*time.Second, "the output to resume and pause again", func() bool {
		_, n := s.Paused()
		return n > pauses
	})
	c.mu.Lock()
	c.noAck = false
	c.mu.Unlock()
	c.send(map[string]any{"type": "ack", "ch": ch, "bytes": 1 << 30})
	c.typeIn(ch, "\x03")
	c.typeIn(ch, "exit\n")
	c.expect("ended")
}

// TestYesMemory runs `yes` for WSDECK_SHELL_SOAK (a duration: 30s) into a
// page that draws slowly and logs the heap and RSS every second: the
// figures of the closing note, not an assertion.
func TestYesMemory(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("WSDECK_SHELL_SOAK"))
	if err != nil {
		t.Skip("set WSDECK_SHELL_SOAK=30s to run `yes` for that long and log memory")
	}
	reg := NewRegistry(Options{Node: "n1", LocalShell: "/bin/sh"})
	url := serve(t, reg)
	c := dial(t, url, "admin")
	c.mu.Lock()
	c.noAck = true
	c.mu.Unlock()
	ch, _ := c.open("local")
	c.typeIn(ch, "yes\n")
	// The page draws 1 MB/s: it acks 100 KB every 100 ms.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var drawn int64
	start := time.Now()
	next := start
	for time.Since(start) < d {
		<-tick.C
		c.mu.Lock()
		n := min(c.unread, 100<<10)
		c.unread -= n
		c.out[ch].Reset()
		c.mu.Unlock()
		drawn += n
		c.send(map[string]any{"type": "ack", "ch": ch, "bytes": n})
		if time.Since(next) >= 0 {
			next = next.Add(time.Second)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("t=%2.0fs drawn=%6d KB heap_inuse=%5.1f MB rss=%5.1f MB", time.Since(start).Seconds(), drawn>>10,
				float64(ms.HeapInuse)/(1<<20), float64(rss())/(1<<20))
		}
	}
	c.mu.Lock()
	c.noAck = false
	c.mu.Unlock()
	c.send(map[string]any{"type": "ack", "ch": ch, "bytes": 1 << 40})
	c.typeIn(ch, "\x03exit\n")
	c.expect("ended")
}

// rss returns the process's resident set, from /proc.
func rss() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestSlowWatcher: a read-only watcher that draws nothing never holds the
// owner's output back: past WatcherLimit it is detached, told why, and
// attaching again brings it the screen from the scrollback.
func TestSlowWatcher(t *testing.T) {
	_, cfg := sshHosts(t, 1)
	reg := NewRegistry(Options{Node: "n1", SSH: cfg, WatcherLimit: 32 << 10})
	url := serve(t, reg)
	olga := dial(t, url, "olga")
	ch, id := olga.open("127.0.0.1")
	adm := dial(t, url, "admin")
	adm.mu.Lock()
	adm.noAck = true
	adm.mu.Unlock()
	adm.send(map[string]any{"type": "attach", "session": id})
	adm.expect("attached")

	// 1 MB of output, 30 times the watcher's limit: the owner gets it all.
	olga.typeIn(ch, "yes | head -c 1000000; echo done-$((6+7))\n")
	olga.waitFor(ch, "done-13")
	if m := adm.expect("detached"); !strings.Contains(m["reason"].(string), "too slow") {
		t.Errorf("the watcher was told %v", m)
	}
	adm.mu.Lock()
	adm.noAck = false
	adm.mu.Unlock()
	adm.send(map[string]any{"type": "attach", "session": id})
	ach := byte(adm.expect("attached")["session"].(map[string]any)["ch"].(float64))
	adm.waitFor(ach, "done-13") // from the scrollback
	olga.typeIn(ch, "exit\n")
	olga.expect("ended")
}
