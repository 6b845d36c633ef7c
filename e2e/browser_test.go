// The browser tests stop the console with SIGTERM, which needs Unix.

//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
	"github.com/wsdeck/wsdeck/websocket"
)

const (
	browserToken = "browser-test-token-0123456789"
	// stepTimeout bounds each wait on the browser or the console:
	// generous, for a loaded machine. Nothing here measures time.
	stepTimeout = 45 * time.Second
	// sampleInterval is the console's --sample-interval in these tests.
	sampleInterval = 200 * time.Millisecond
)

// TestBrowser drives headless Chromium against the real wsdeck binary:
// login through the printed URL, chat between two pages, a reconnect that
// catches up, the monitor's charts, the Exec tab, a phone-sized screen, a
// cross-origin page refused, and a graceful stop. Screenshots go to
// WSDECK_ARTIFACTS if set, else to the test's artifact directory (kept with
// go test -artifacts).
func TestBrowser(t *testing.T) {
	chromium := testpeer.Chromium(t)
	artifacts := artifactDir(t)
	t.Logf("artifacts in %s", artifacts)
	bin := buildWsdeck(t)
	// This console serves no Exec: its tab says so. The Exec subtest
	// starts a console of its own, with SSH settings for its servers.
	console := startConsole(t, bin, artifacts, "console", "--exec=false")
	b := startBrowser(t, chromium, artifacts)

	alice := b.newPage(t, "alice")
	bob := b.newPage(t, "bob")

	t.Run("Login", func(t *testing.T) {
		alice.navigate(t, console.base+"/")
		if body := eval[string](t, alice, "document.body.innerText"); !strings.Contains(body, "401") {
			t.Fatalf("without logging in, the page says %q; want a 401", body)
		}
		// The printed URL logs in and lands on a clean URL.
		alice.login(t, console.loginURL)
		loc := eval[string](t, alice, "location.href")
		if loc != console.base+"/#chat" {
			t.Errorf("after login the page is at %s, want %s/#chat", loc, console.base)
		}
		hist, err := chromedp.Run(alice.step(t), chromedp.NavigationEntries())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range hist.Entries {
			if strings.Contains(e.URL, "token=") {
				t.Errorf("the history holds the token: %s", e.URL)
			}
		}
		// The session cookie is HttpOnly: not readable from script.
		if c := eval[string](t, alice, "document.cookie"); strings.Contains(c, "wsdeck") {
			t.Errorf("document.cookie = %q: the session cookie is readable from script", c)
		}
		alice.poll(t, "connected", `document.getElementById("conn").dataset.state === "open"`)
	})

	t.Run("Chat", func(t *testing.T) {
		bob.login(t, console.loginURL)
		alice.setNick(t, "alice")
		bob.setNick(t, "bob")
		alice.say(t, "hello from alice")
		bob.say(t, "hello from bob")
		for _, p := range []*page{alice, bob} {
			p.waitMessage(t, "alice", "hello from alice")
			p.waitMessage(t, "bob", "hello from bob")
		}
		// The nickname is remembered, and the history is shown on joining.
		alice.reload(t)
		if nick := eval[string](t, alice, `document.getElementById("nick").value`); nick != "alice" {
			t.Errorf("after a reload the nickname is %q, want alice", nick)
		}
		msgs := alice.waitMessage(t, "bob", "hello from bob")
		if msgs[len(msgs)-1].Via != "history" {
			t.Errorf("after a reload, bob's message came %s, want from the history", msgs[len(msgs)-1].Via)
		}
	})

	t.Run("ReconnectCatchesUp", func(t *testing.T) {
		connects := eval[int](t, alice, "wsdeck.chat.channel.connects")
		// Keep alice from reconnecting until the test allows it: the
		// network drops her page's catch-up handshakes (they ask for
		// since=), not the socket she has. (Without her cookie the page
		// would learn she is logged out, and stop.)
		unblock := alice.blockSockets(t, console.base, "/ws/chat?*since=")
		restored := false
		defer func() {
			if !restored { // for the later subtests
				unblock()
			}
		}()
		// The server closes alice's socket: a message over
		// --max-message-size fails the connection with 1009.
		eval[bool](t, alice, `wsdeck.chat.channel.ws.send("x".repeat(70000)) === undefined`)
		alice.poll(t, "socket closed by the server", `wsdeck.chat.channel.lastClose?.code === 1009`)
		alice.poll(t, "indicator offline", `document.getElementById("conn").dataset.state !== "open"`)
		var sent []string
		for i := range 3 {
			text := fmt.Sprintf("while alice was away %d", i)
			bob.say(t, text)
			bob.waitMessage(t, "bob", text) // the server has it
			sent = append(sent, text)
		}
		alice.screenshot(t, artifacts, "chat-offline")
		unblock()
		restored = true
		alice.poll(t, "reconnected", fmt.Sprintf(`wsdeck.chat.channel.connects > %d && wsdeck.chat.channel.state === "open"`, connects))
		for _, text := range sent {
			msgs := alice.waitMessage(t, "bob", text)
			if m := msgs[len(msgs)-1]; m.Via != "history" {
				t.Errorf("%q reached alice %s, want through the catch-up (history)", text, m.Via)
			}
		}
		// Nothing twice.
		seen := map[int]bool{}
		for _, m := range alice.messages(t) {
			if seen[m.Seq] {
				t.Errorf("message %d shown twice", m.Seq)
			}
			seen[m.Seq] = true
		}
		alice.say(t, "back, and I missed nothing")
		bob.waitMessage(t, "alice", "back, and I missed nothing")
		alice.screenshot(t, artifacts, "chat")
	})

	t.Run("ChatFollowsTheEnd", func(t *testing.T) {
		// A reader at the end of the list stays there as lines come; one
		// who scrolled up is left where they are.
		const atEnd = `(l => l.scrollHeight - l.scrollTop - l.clientHeight < 40)(document.getElementById("messages"))`
		const lines = 30 // within the socket's burst of 40
		eval[bool](t, bob, fmt.Sprintf(`(() => {
			for (let i = 0; i < %d; i++) { wsdeck.chat.input.value = "line " + i; wsdeck.chat.submit(); }
			return true;
		})()`, lines))
		alice.waitMessage(t, "bob", fmt.Sprintf("line %d", lines-1))
		if !eval[bool](t, alice, `(l => l.scrollHeight > l.clientHeight)(document.getElementById("messages"))`) {
			t.Fatal("the list does not overflow its box: the test needs more lines")
		}
		alice.poll(t, "the list at its end", atEnd)

		eval[bool](t, alice, `(document.getElementById("messages").scrollTop = 0) === 0`)
		alice.poll(t, "the page sees the reader scrolled up", `!wsdeck.chat.atEnd`)
		bob.say(t, "one more")
		alice.waitMessage(t, "bob", "one more")
		// A follow would have been queued with the line; none was.
		if q, top := eval[bool](t, alice, "wsdeck.chat.scrollQueued"), eval[int](t, alice, `document.getElementById("messages").scrollTop`); q || top != 0 {
			t.Errorf("a reader scrolled to the top was moved: follow queued %v, scrollTop %d", q, top)
		}
		eval[bool](t, alice, `(l => (l.scrollTop = l.scrollHeight) > 0)(document.getElementById("messages"))`)
		alice.poll(t, "the page sees the reader back at the end", `wsdeck.chat.atEnd`)
	})

	t.Run("ChatRooms", func(t *testing.T) {
		// alice makes a room and is moved into it; bob's page lists it
		// at once, without a reload.
		alice.createRoom(t, "ops")
		bob.poll(t, "ops listed", `document.querySelector('#rooms button[data-room="ops"]') !== null`)
		alice.say(t, "in ops")
		bob.say(t, "in the lobby")
		alice.waitMessage(t, "alice", "in ops")
		bob.waitMessage(t, "bob", "in the lobby")
		// Messages stay in their room, each with its own history.
		bob.switchRoom(t, "ops")
		if msgs := bob.waitMessage(t, "alice", "in ops"); msgs[len(msgs)-1].Via != "history" {
			t.Errorf("ops' message reached bob %s, want from its history", msgs[len(msgs)-1].Via)
		}
		for _, p := range []*page{alice, bob} {
			for _, m := range p.messages(t) {
				if m.Text == "in the lobby" || strings.HasPrefix(m.Text, "hello from") {
					t.Errorf("%s sees the lobby's %q in ops", p.name, m.Text)
				}
			}
		}
		bob.say(t, "bob in ops")
		alice.waitMessage(t, "bob", "bob in ops")
		// The room is remembered across a reload.
		alice.reload(t)
		if room := eval[string](t, alice, `wsdeck.chat.room + " " + document.getElementById("room-title").textContent`); room != "ops #ops" {
			t.Errorf("after a reload alice is in %q, want ops", room)
		}
		alice.waitMessage(t, "bob", "bob in ops")
		alice.screenshot(t, artifacts, "chat-rooms")
		// Back to the lobby, for the subtests after this one.
		for _, p := range []*page{alice, bob} {
			p.switchRoom(t, "lobby")
			p.waitMessage(t, "bob", "in the lobby")
		}
	})

	t.Run("Monitor", func(t *testing.T) {
		// The viewer's time zone, to check the time axis: India has no
		// daylight saving, so 0 ms is 05:30:00 there all year.
		if _, err := chromedp.Call(alice.step(t), emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"}); err != nil {
			t.Fatal(err)
		}
		// Someone watches first, so there are samples to backfill.
		watcher := console.watchMonitor(t, 3)
		defer watcher.CloseNow()
		alice.click(t, "#tab-monitor")
		alice.poll(t, "backfill received", `wsdeck.monitor.backfilled >= 0`)
		backfilled := eval[int](t, alice, "wsdeck.monitor.backfilled")
		points := eval[int](t, alice, "wsdeck.monitor.points()")
		t.Logf("backfill of %d samples; the chart shows %d points", backfilled, points)
		if backfilled < 3 || points < backfilled {
			t.Fatalf("backfill of %d samples, chart of %d points: want the 3 or more samples already taken, drawn at once", backfilled, points)
		}
		alice.poll(t, "a new point", fmt.Sprintf("wsdeck.monitor.points() > %d", points))
		// The node list: this console's one node, shown and selected.
		alice.poll(t, "the node selected", `wsdeck.monitor.self !== "" && wsdeck.monitor.node === wsdeck.monitor.self &&
			wsdeck.monitor.nodes.length === 1 && document.getElementById("monitor-node").value === wsdeck.monitor.self`)
		if got := eval[string](t, alice, `echarts_label(0)`); got != "05:30:00" {
			t.Errorf("the time axis labels 0 ms as %q in Asia/Kolkata, want 05:30:00 (local time)", got)
		}
		// Per-core series: hidden, then shown by the toggle.
		cores := eval[int](t, alice, "wsdeck.monitor.cores")
		if cores < 1 {
			t.Fatalf("%d per-core series", cores)
		}
		if eval[bool](t, alice, `cpuLegend()["core 0"] === true`) {
			t.Error("per-core series shown before the toggle")
		}
		alice.click(t, "#per-core")
		alice.poll(t, "per-core series shown", `cpuLegend()["core 0"] === true`)
		alice.poll(t, "stats filled", `!document.getElementById("stat-mem").textContent.startsWith("–")`)
		// A few seconds of samples, for a screenshot worth looking at.
		alice.poll(t, "30 points", "wsdeck.monitor.points() >= 30")
		alice.screenshot(t, artifacts, "monitor")
	})

	t.Run("Exec", func(t *testing.T) {
		alice.click(t, "#tab-exec")
		alice.poll(t, "not configured shown", `document.getElementById("exec-status").dataset.state === "not_configured"`)
		if text := eval[string](t, alice, `document.getElementById("exec-status").textContent`); !strings.Contains(text, "not configured") {
			t.Errorf("Exec tab says %q", text)
		}
		alice.click(t, "#tab-chat")
	})

	t.Run("ExecOverSSH", func(t *testing.T) { testExec(t, b, bin, artifacts) })

	t.Run("Sessions", func(t *testing.T) { testSessions(t, b, bin, artifacts) })

	t.Run("ForgedOutput", func(t *testing.T) { testForgedOutput(t, b, bin, artifacts) })
	t.Run("ExecRestart", func(t *testing.T) { testExecRestart(t, b, bin, artifacts) })
	t.Run("ResultsTable", func(t *testing.T) { testResultsTable(t, b, bin, artifacts) })

	t.Run("Phone", func(t *testing.T) {
		if _, err := chromedp.Run(bob.step(t), chromedp.EmulateViewport(390, 844, chromedp.EmulatePortrait)); err != nil {
			t.Fatal(err)
		}
		for _, tab := range []string{"chat", "monitor"} {
			bob.click(t, "#tab-"+tab)
			if tab == "monitor" {
				bob.poll(t, "chart drawn", "wsdeck.monitor.points() > 0")
			}
			if w := eval[int](t, bob, "document.documentElement.scrollWidth - window.innerWidth"); w > 0 {
				t.Errorf("%s tab on a phone: %d pixels wider than the screen", tab, w)
			}
			bob.screenshot(t, artifacts, tab+"-phone")
		}
		bob.click(t, "#tab-chat")
	})

	t.Run("TextIsNotHTML", func(t *testing.T) {
		bob.say(t, `<img src=x onerror="window.pwned=1">`)
		alice.waitMessage(t, "bob", `<img src=x onerror="window.pwned=1">`)
		if eval[bool](t, alice, `window.pwned === 1 || document.querySelector("#messages img") !== null`) {
			t.Error("a chat message was rendered as HTML")
		}
	})

	t.Run("CrossOriginRefused", func(t *testing.T) {
		// A page from another port of the same host: alice's browser sends
		// her cookie with it (cookies ignore ports, and the site is the
		// same), so only the Origin check stands in its way.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><title>waiting</title><script>
const ws = new WebSocket(%q);
ws.onopen = () => { document.title = "open"; };
ws.onclose = (e) => { if (document.title !== "open") document.title = "refused:" + e.code; };
</script>`, "ws"+strings.TrimPrefix(console.base, "http")+"/ws/chat")
		}))
		defer evil.Close()
		alice.navigate(t, evil.URL)
		alice.poll(t, "handshake ended", `document.title !== "waiting"`)
		if title := eval[string](t, alice, "document.title"); title != "refused:1006" {
			t.Fatalf("the other origin's socket: %s, want refused (1006)", title)
		}
		// Refused by the Origin check, after the cookie had passed.
		rec := console.waitLog(t, func(r logRecord) bool {
			return r.Msg == "websocket handshake refused" && r.Reason == "origin" && r.Origin == evil.URL
		})
		t.Logf("console: %s %s origin=%s", rec.Msg, rec.Err, rec.Origin)
	})

	t.Run("GracefulStop", func(t *testing.T) {
		bob.poll(t, "bob connected", `wsdeck.chat.channel.state === "open"`)
		console.stop(t)
		bob.poll(t, "closed with 1001", `wsdeck.chat.channel.lastClose?.code === 1001`)
	})
}

// artifactDir is WSDECK_ARTIFACTS, or the test's artifact directory.
func artifactDir(t *testing.T) string {
	if dir := os.Getenv("WSDECK_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

// buildWsdeck builds the wsdeck command into a temporary directory, in
// the product's module (the parent of this one), with its go.mod and
// go.sum: the binary is the one a user builds.
func buildWsdeck(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "wsdeck")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/wsdeck")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// console is a running wsdeck serve.
type console struct {
	cmd      *exec.Cmd
	base     string // http://127.0.0.1:PORT
	loginURL string
	exited   chan struct{}
	waitErr  error

	mu   sync.Mutex
	logs []logRecord
	logc chan struct{} // signalled on each log record
}

// logRecord is a line of the console's JSON log.
type logRecord struct {
	Msg    string `json:"msg"`
	Reason string `json:"reason"`
	Origin string `json:"origin"`
	Err    string `json:"err"`
	Remote string `json:"remote"`
	Proto  string `json:"proto"`
}

// startConsole starts wsdeck serve with args on a free loopback port,
// logging to name.log in artifacts, and waits for the login URL it prints.
func startConsole(t *testing.T, bin, artifacts, name string, args ...string) *console {
	t.Helper()
	logFile, err := os.Create(filepath.Join(artifacts, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	c := &console{logc: make(chan struct{}, 1), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--token", browserToken,
		"--sample-interval", sampleInterval.String(), "--max-message-size", "65536", "--log-format", "json", "--print-url")
	if !slices.Contains(args, "--state-dir") { // each console its own state, sessions and all
		c.cmd.Args = append(c.cmd.Args, "--state-dir", t.TempDir())
	}
	c.cmd.Args = append(c.cmd.Args, args...)
	c.cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=") // no agent: the test's keys only
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	var pipes sync.WaitGroup
	pipes.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if _, u, ok := strings.Cut(line, "wsdeck console: open "); ok {
				urls <- u
			}
			if _, u, ok := strings.Cut(line, "wsdeck console (team mode): log in at "); ok {
				urls <- u // the login page: the token opens nothing
			}
		}
	})
	pipes.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			var r logRecord
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				c.mu.Lock()
				c.logs = append(c.logs, r)
				c.mu.Unlock()
				select {
				case c.logc <- struct{}{}:
				default:
				}
			}
		}
	})
	go func() {
		pipes.Wait()
		c.waitErr = c.cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
	})
	select {
	case c.loginURL = <-urls:
	case <-c.exited:
		t.Fatalf("wsdeck exited: %v", c.waitErr)
	case <-time.After(stepTimeout):
		t.Fatal("wsdeck printed no login URL")
	}
	t.Logf("login URL: %s", c.loginURL)
	base, _, ok := strings.Cut(c.loginURL, "/?token=")
	if team, isTeam := strings.CutSuffix(c.loginURL, "/login"); isTeam && strings.HasPrefix(team, "http://127.0.0.1:") {
		base, ok = team, true // team mode: loginURL is the login page
	} else if !ok || !strings.HasPrefix(strings.Replace(base, "https:", "http:", 1), "http://127.0.0.1:") || !strings.HasSuffix(c.loginURL, "?token="+browserToken) {
		t.Fatalf("printed %q: want http(s)://127.0.0.1:PORT/?token=%s", c.loginURL, browserToken)
	}
	c.base = base
	return c
}

// waitLog waits for a log record that match accepts.
func (c *console) waitLog(t *testing.T, match func(logRecord) bool) logRecord {
	t.Helper()
	deadline := time.After(stepTimeout)
	for {
		c.mu.Lock()
		for _, r := range c.logs {
			if match(r) {
				c.mu.Unlock()
				return r
			}
		}
		c.mu.Unlock()
		select {
		case <-c.logc:
		case <-deadline:
			t.Fatal("no such log record")
		}
	}
}

// watchMonitor connects to the monitor as a script would, and returns once
// n samples have come.
func (c *console) watchMonitor(t *testing.T, n int) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws/monitor",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + browserToken}}})
	if err != nil {
		t.Fatal(err)
	}
	samples := 0
	for samples < n {
		_, p, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(p, []byte(`"type":"sample"`)) {
			samples++
		}
	}
	// Keep reading in the background (a viewer must, or it is dropped).
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return ws
}

// stop sends SIGTERM and waits for a clean exit.
func (c *console) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
		if c.waitErr != nil {
			t.Errorf("wsdeck exited with %v after SIGTERM, want 0", c.waitErr)
		}
	case <-time.After(stepTimeout):
		t.Fatal("wsdeck did not exit after SIGTERM")
	}
	c.waitLog(t, func(r logRecord) bool { return r.Msg == "shut down" })
}

// browser is a headless Chromium.
type browser struct {
	ctx context.Context
}

func startBrowser(t *testing.T, chromium, artifacts string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	out, err := os.Create(filepath.Join(artifacts, "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// Two pages at once: keep the one not in front running at full
		// speed (timers, animation frames).
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
		chromedp.CombinedOutput(out),
	}, extra...)...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		out.Close()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, for as long as ctx lives
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// page is a tab in a browser context of its own (its own cookies and
// storage), as if on another machine.
type page struct {
	name string
	ctx  context.Context
}

func (b *browser) newPage(t *testing.T, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, for as long as ctx lives
		t.Fatalf("opening a tab: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return &page{name: name, ctx: ctx}
}

// step returns a context for one step, cancelled at the end of the test.
func (p *page) step(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (p *page) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(p.step(t), actions...); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
}

func eval[T any](t *testing.T, p *page, expr string) T {
	t.Helper()
	v, err := chromedp.Run(p.step(t), chromedp.Evaluate[T](withHelpers(expr)))
	if err != nil {
		t.Fatalf("%s: evaluating %s: %v", p.name, expr, err)
	}
	return v
}

// withHelpers wraps a JavaScript expression with the helper functions it
// may use.
func withHelpers(expr string) string {
	return "(() => {" + helpers + "return (" + expr + ");})()"
}

// helpers are functions the expressions use, defined in each evaluation.
const helpers = `
var cpuChart = () => echartsOf("chart-cpu");
var echartsOf = (id) => wsdeck.monitor.charts[id === "chart-cpu" ? "cpu" : id === "chart-mem" ? "mem" : "net"];
var cpuLegend = () => cpuChart().getOption().legend[0].selected || {};
var echarts_label = (ms) => cpuChart().getOption().xAxis[0].axisLabel.formatter(ms);
`

// poll waits until expr is true in the page.
func (p *page) poll(t *testing.T, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(p.step(t), chromedp.Poll[bool](withHelpers(expr),
		chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("%s: waiting for %s (%s): %v", p.name, what, expr, err)
	}
}

func (p *page) navigate(t *testing.T, url string) {
	t.Helper()
	p.do(t, chromedp.Navigate(url))
}

// login opens the printed login URL and waits for the chat to connect.
func (p *page) login(t *testing.T, loginURL string) {
	t.Helper()
	p.do(t, chromedp.Navigate(loginURL), chromedp.WaitVisible("#messages"))
	p.poll(t, "chat connected", `wsdeck.chat.channel.state === "open" && wsdeck.chat.epoch !== ""`)
}

func (p *page) reload(t *testing.T) {
	t.Helper()
	p.do(t, chromedp.Reload(), chromedp.WaitVisible("#messages"))
	p.poll(t, "chat connected", `wsdeck.chat.channel.state === "open" && wsdeck.chat.epoch !== ""`)
}

func (p *page) click(t *testing.T, sel string) {
	t.Helper()
	p.do(t, chromedp.Click(chromedp.CSS(sel)))
}

func (p *page) setNick(t *testing.T, nick string) {
	t.Helper()
	// Select what is there and type over it, as a person would.
	eval[bool](t, p, `(document.getElementById("nick").select(), true)`)
	p.do(t, chromedp.SendKeys(chromedp.CSS("#nick"), nick+kb.Enter))
	p.poll(t, "nickname taken", fmt.Sprintf(`wsdeck.chat.nick === %q && localStorage.getItem("wsdeck.nick") === %[1]q`, nick))
}

func (p *page) say(t *testing.T, text string) {
	t.Helper()
	p.do(t, chromedp.SendKeys(chromedp.CSS("#text"), text+kb.Enter))
	p.poll(t, "message sent", `document.getElementById("text").value === ""`)
}

// createRoom creates a room through the room column and waits until the
// page is in it.
func (p *page) createRoom(t *testing.T, room string) {
	t.Helper()
	p.do(t, chromedp.SendKeys(chromedp.CSS("#room-name"), room+kb.Enter))
	p.poll(t, "in room "+room, fmt.Sprintf(`wsdeck.chat.room === %q && wsdeck.chat.channel.state === "open" && wsdeck.chat.epoch !== ""`, room))
}

// switchRoom clicks a room in the room column and waits until the page
// is in it.
func (p *page) switchRoom(t *testing.T, room string) {
	t.Helper()
	p.click(t, fmt.Sprintf(`#rooms button[data-room=%q]`, room))
	p.poll(t, "in room "+room, fmt.Sprintf(`wsdeck.chat.room === %q && wsdeck.chat.channel.state === "open" && wsdeck.chat.epoch !== ""`, room))
}

// chatItem is a message as the page shows it.
type chatItem struct {
	Seq  int    `json:"seq"`
	Nick string `json:"nick"`
	Text string `json:"text"`
	Via  string `json:"via"`
}

func (p *page) messages(t *testing.T) []chatItem {
	t.Helper()
	return eval[[]chatItem](t, p, `[...document.querySelectorAll('#messages li[data-type="message"]')].map(li => ({
		seq: +li.dataset.seq, via: li.dataset.via,
		nick: li.querySelector(".nick").textContent, text: li.querySelector(".text").textContent}))`)
}

// waitMessage waits until the page shows text from nick, and returns the
// messages shown up to the first such one.
func (p *page) waitMessage(t *testing.T, nick, text string) []chatItem {
	t.Helper()
	p.poll(t, fmt.Sprintf("%s: %q", nick, text), fmt.Sprintf(`[...document.querySelectorAll('#messages li[data-type="message"]')].some(li =>
		li.querySelector(".nick").textContent === %q && li.querySelector(".text").textContent === %q)`, nick, text))
	msgs := p.messages(t)
	for i, m := range msgs {
		if m.Nick == nick && m.Text == text {
			return msgs[:i+1]
		}
	}
	t.Fatalf("%s: message %q vanished", p.name, text)
	return nil
}

// takeCookies removes the page's cookies for url and returns them.
func (p *page) takeCookies(t *testing.T, url string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(p.step(t), network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cookies) == 0 {
		t.Fatal("no cookies to take")
	}
	for _, c := range res.Cookies {
		if _, err := chromedp.Call(p.step(t), network.DeleteCookies, network.DeleteCookiesParams{Name: c.Name, URL: url}); err != nil {
			t.Fatal(err)
		}
	}
	return res.Cookies
}

// restoreCookies puts back cookies that takeCookies took.
func (p *page) restoreCookies(t *testing.T, cookies []*network.Cookie) {
	t.Helper()
	var params []*network.CookieParam
	for _, c := range cookies {
		params = append(params, &network.CookieParam{
			Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path,
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
		})
	}
	if _, err := chromedp.Call(p.step(t), network.SetCookies, network.SetCookiesParams{Cookies: params}); err != nil {
		t.Fatal(err)
	}
}

func (p *page) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(p.step(t), chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
