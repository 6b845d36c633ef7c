// Command shellsoak checks the Shell tab's flow control on a running
// console: it opens a local terminal over /ws/shell, runs `yes` in it, and
// reads as a page that draws -draw bytes a second would (it acks that
// much), printing the console's RSS (from /proc) and the Go heap goal
// (from /metrics) every -every. Not a timed assertion: the figures go in
// bench/RESULTS.md.
//
//	wsdeck serve --addr 127.0.0.1:18931 --token T --state-dir /tmp/soak &
//	go run ./cmd/shellsoak -url ws://127.0.0.1:18931 -token T -pid $! -for 60s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:8080", "the console's base URL (ws:// or wss://)")
	token := flag.String("token", "", "the console's token")
	pid := flag.Int("pid", 0, "the console's process id, for its RSS")
	d := flag.Duration("for", 30*time.Second, "how long `yes` runs")
	draw := flag.Int64("draw", 1<<20, "bytes a second the page draws (acks)")
	every := flag.Duration("every", 2*time.Second, "time between samples")
	flag.Parse()
	if err := run(*url, *token, *pid, *d, *draw, *every); err != nil {
		log.Fatal(err)
	}
}

func run(base, token string, pid int, d time.Duration, draw int64, every time.Duration) error {
	ctx := context.Background()
	auth := http.Header{"Authorization": {"Bearer " + token}}
	ws, _, err := websocket.Dial(ctx, strings.TrimSuffix(base, "/")+"/ws/shell", &websocket.DialOptions{HTTPHeader: auth})
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	send := func(v any) { b, _ := json.Marshal(v); ws.Write(ctx, websocket.MessageText, b) }
	var unread, total atomic.Int64
	attached := make(chan byte, 1)
	go func() {
		for {
			typ, p, err := ws.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageBinary {
				unread.Add(int64(len(p) - 1))
				total.Add(int64(len(p) - 1))
				continue
			}
			var m struct {
				Type    string `json:"type"`
				Session struct {
					Ch byte `json:"ch"`
				} `json:"session"`
			}
			json.Unmarshal(p, &m)
			switch m.Type {
			case "attached":
				attached <- m.Session.Ch
			case "error":
				log.Printf("error: %s", p)
			}
		}
	}()
	send(map[string]any{"type": "open", "host": "local", "cols": 80, "rows": 24})
	var ch byte
	select {
	case ch = <-attached:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("no terminal opened within 30 s")
	}
	httpBase := "http" + strings.TrimPrefix(strings.TrimSuffix(base, "/"), "ws")
	fmt.Printf("before: console rss %d KiB, heap goal %s\n", rss(pid), heapGoal(httpBase, auth))
	ws.Write(ctx, websocket.MessageBinary, append([]byte{ch}, "yes\n"...))
	const tick = 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	next := start.Add(every)
	for time.Since(start) < d {
		<-t.C
		n := min(unread.Load(), draw*int64(tick)/int64(time.Second))
		unread.Add(-n)
		send(map[string]any{"type": "ack", "ch": ch, "bytes": n})
		if time.Now().After(next) {
			next = next.Add(every)
			fmt.Printf("t=%3.0fs drawn %7d KiB  console rss %6d KiB  heap goal %s\n",
				time.Since(start).Seconds(), total.Load()>>10, rss(pid), heapGoal(httpBase, auth))
		}
	}
	send(map[string]any{"type": "ack", "ch": ch, "bytes": 1 << 40})
	ws.Write(ctx, websocket.MessageBinary, append([]byte{ch}, "\x03exit\n"...))
	send(map[string]any{"type": "close", "ch": ch})
	return nil
}

// rss returns a process's resident set in KiB, from /proc (0 if unknown).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb
		}
	}
	return 0
}

// heapGoal returns the console's next GC goal (twice its live heap, by
// default) from /metrics.
func heapGoal(base string, auth http.Header) string {
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header = auth
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "go_memstats_next_gc_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return fmt.Sprintf("%.1f MiB", f/(1<<20))
		}
	}
	return "-"
}
