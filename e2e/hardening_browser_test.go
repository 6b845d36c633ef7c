//go:build unix

package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// forgeCommand prints, on local, a red error line, then on the next line
// what would forge its end in a terminal that obeys C1 controls (U+009B
// CSI, U+009D OSC, U+009C ST; \302\233 is U+009B in UTF-8): cursor up,
// erase the line, back to column 1, a green "disk check passed", and a
// new title. Then a line concealed by SGR 8.
const forgeCommand = `printf '\033[31mERROR: /dev/sda1 failing\033[0m\n'; ` +
	`printf '\302\233A\302\2332K\302\233G\302\23332mdisk check passed\302\2330m\302\2350;pwned\302\234\n'; ` +
	`printf '\033[8mconcealed\033[0m\n'`

// termCell is a cell of the Exec terminal, as xterm.js holds it.
type termCell struct {
	Found     bool `json:"found"`
	Palette   bool `json:"palette"`
	Fg        int  `json:"fg"`
	Invisible bool `json:"invisible"`
}

// termCellJS returns the JavaScript for the cell at column col of the
// terminal's first line whose text is line.
func termCellJS(line string, col int) string {
	return fmt.Sprintf(`(() => {
		const buf = wsdeck.exec.term.buffer.active;
		for (let i = 0; i < buf.length; i++) {
			const l = buf.getLine(i);
			if (l.translateToString(true) !== %q) continue;
			const c = l.getCell(%d);
			return {found: true, palette: c.isFgPalette(), fg: c.getFgColor(), invisible: c.isInvisible() !== 0};
		}
		return {found: false};
	})()`, line, col)
}

// testForgedOutput runs forgeCommand from the Exec tab: the terminal keeps
// the red error line where it was, shows the forged text as that host's
// own plain line, keeps its title, and shows the concealed text; for the
// viewer who ran it and for one who joins later and gets the replay.
func testForgedOutput(t *testing.T, b *browser, bin, artifacts string) {
	console := startConsole(t, bin, artifacts, "forged-console",
		"--audit-log", filepath.Join(t.TempDir(), "audit.jsonl"))
	erin := b.newPage(t, "erin")
	erin.login(t, console.loginURL)
	erin.openExec(t)
	erin.setInput(t, "#exec-hosts", "local")
	erin.setInput(t, "#exec-command", forgeCommand)
	erin.poll(t, "run enabled", `!document.getElementById("exec-run").disabled`)
	erin.click(t, "#exec-run")
	erin.poll(t, "job finished", `wsdeck.exec.summary !== null`)
	checkNotForged(t, erin)
	erin.screenshot(t, artifacts, "exec-forged-output")

	fay := b.newPage(t, "fay")
	fay.login(t, console.loginURL)
	fay.openExec(t)
	fay.poll(t, "job replayed", `wsdeck.exec.summary !== null`)
	checkNotForged(t, fay)
}

func checkNotForged(t *testing.T, p *page) {
	t.Helper()
	p.waitTermSummary(t)
	const prefix = "local: "
	text := eval[string](t, p, "wsdeck.exec.termText()")
	lines := map[string]bool{}
	for l := range strings.SplitSeq(text, "\n") {
		lines[strings.TrimRight(l, " ")] = true
	}
	for _, want := range []string{prefix + "ERROR: /dev/sda1 failing", prefix + "disk check passed", prefix + "concealed"} {
		if !lines[want] {
			t.Errorf("%s: the terminal has no line %q:\n%s", p.name, want, text)
		}
	}
	if c := eval[termCell](t, p, termCellJS(prefix+"ERROR: /dev/sda1 failing", len(prefix))); !c.Found || !c.Palette || c.Fg != 1 {
		t.Errorf("%s: the ERROR line's first letter is %+v, want red (palette color 1)", p.name, c)
	}
	if c := eval[termCell](t, p, termCellJS(prefix+"concealed", len(prefix))); !c.Found || c.Invisible {
		t.Errorf("%s: the concealed line's first letter is %+v, want it visible", p.name, c)
	}
	if title := eval[string](t, p, "wsdeck.exec.termTitle"); title != "" {
		t.Errorf("%s: a host set the terminal's title to %q", p.name, title)
	}
}

// testExecRestart: a console stopped during a job (SIGTERM) cancels the
// job and sends its end to the page before it closes the socket; one
// killed during a job (SIGKILL) cannot, and the page takes the hello of
// the console started again on the same address as the end of the job it
// showed. Either way Run is enabled again and no job shows as running,
// without a reload. (The sessions were the old console's: the page's user
// logs in again in another tab, as the page asks; the page is kept from
// reconnecting until then, else it would show itself logged out.)
func testExecRestart(t *testing.T, b *browser, bin, artifacts string) {
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	args := []string{"--audit-log", audit, "--kill-grace", "1s"}
	console := startConsole(t, bin, artifacts, "restart-console", args...)
	addr := strings.TrimPrefix(console.base, "http://")
	gus := b.newPage(t, "gus")
	gus.login(t, console.loginURL)
	gus.openExec(t)
	gus.setInput(t, "#exec-hosts", "local")

	for i, how := range []string{"SIGTERM", "SIGKILL"} {
		command := fmt.Sprintf("echo started %d; sleep 30", i)
		gus.setInput(t, "#exec-command", command)
		gus.poll(t, "run enabled", `!document.getElementById("exec-run").disabled`)
		gus.click(t, "#exec-run")
		gus.poll(t, "job running", fmt.Sprintf(`wsdeck.exec.job?.command === %q && wsdeck.exec.lines === 1 &&
			document.getElementById("exec-progress").dataset.state === "running"`, command))
		connects := eval[int](t, gus, "wsdeck.exec.channel.connects")

		var wantState string
		if how == "SIGTERM" {
			console.stop(t)
			// Nothing can reach the page now but what the old socket
			// brought before it closed.
			gus.poll(t, "the job's end, then the close", `wsdeck.exec.summary?.canceled === true &&
				wsdeck.exec.channel.lastClose?.code === 1001`)
			wantState = "canceled"
		} else {
			console.kill(t)
			gus.poll(t, "the socket dropped", `wsdeck.exec.channel.state !== "open"`)
			if eval[bool](t, gus, "wsdeck.exec.summary !== null") {
				t.Fatal("a summary came from a console killed with SIGKILL")
			}
			wantState = "interrupted"
		}
		unblock := gus.blockSockets(t, console.base, "/ws/")
		console = startConsole(t, bin, artifacts, fmt.Sprintf("restart-console-%d", i+1), append(args, "--addr", addr)...)
		gus.newTab(t, "gus logs in again").login(t, console.loginURL)
		unblock()
		gus.poll(t, "reconnected, Run enabled, no job running", fmt.Sprintf(`wsdeck.exec.channel.state === "open" &&
			wsdeck.exec.channel.connects > %d && wsdeck.exec.hello !== null &&
			!document.getElementById("exec-run").disabled && document.getElementById("exec-cancel").disabled &&
			document.getElementById("exec-progress").dataset.state === %q`, connects, wantState))
		gus.screenshot(t, artifacts, "exec-after-"+strings.ToLower(how))
	}
}

// kill stops the console with SIGKILL: no shutdown at all.
func (c *console) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.exited
}

// testResultsTable runs a job whose failure is a long error (an unknown
// host key, in a known_hosts file with a long path) next to one that
// succeeds: the results table keeps Exit, Duration and Output within the
// viewport, with no scrolling sideways, on a wide screen and on a phone,
// and the cut status cell has the whole error in its title.
func testResultsTable(t *testing.T, b *browser, bin, artifacts string) {
	port := unknownHostKeyServer(t)
	_, keyPEM := sshtest.NewKey(t)
	dir := filepath.Join(t.TempDir(), strings.Repeat("a-directory-with-a-long-name-", 6))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	keyFile, known := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(known, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	console := startConsole(t, bin, artifacts, "table-console",
		"--port", strconv.Itoa(port), "--identity", keyFile, "--known-hosts", known, "--ssh-config", "none",
		"--audit-log", filepath.Join(t.TempDir(), "audit.jsonl"))
	hal := b.newPage(t, "hal")
	hal.login(t, console.loginURL)
	hal.openExec(t)
	hal.setInput(t, "#exec-hosts", "127.0.0.1,local")
	hal.setInput(t, "#exec-command", "true")
	hal.poll(t, "run enabled", `!document.getElementById("exec-run").disabled`)
	hal.click(t, "#exec-run")
	hal.poll(t, "job finished", `wsdeck.exec.summary !== null`)
	rows := eval[[]execRow](t, hal, execRowsJS)
	if len(rows) != 2 || rows[0].State != "failed" || rows[1].State != "ok" {
		t.Fatalf("rows %+v, want 127.0.0.1 failed and local ok", rows)
	}
	title := eval[string](t, hal, `document.querySelector("#exec-table tbody tr").cells[1].title`)
	if !strings.Contains(title, "host key unknown") || !strings.Contains(title, known) {
		t.Errorf("the failed row's status title is %q: want the whole error, known_hosts path and all", title)
	}
	t.Logf("the error is %d characters long", len(title))

	for _, screen := range []struct {
		name          string
		width, height int64
	}{{"wide", 1280, 860}, {"phone", 390, 844}} {
		if _, err := chromedp.Run(hal.step(t), chromedp.EmulateViewport(screen.width, screen.height, chromedp.EmulatePortrait)); err != nil {
			t.Fatal(err)
		}
		g := eval[tableGeometry](t, hal, tableGeometryJS)
		if len(g.Outside) > 0 || g.Sideways > 0 || g.Page > 0 {
			t.Errorf("%s screen: cells outside the viewport or the table's box %v; %d pixels to scroll sideways in the table, %d in the page",
				screen.name, g.Outside, g.Sideways, g.Page)
		}
		hal.screenshot(t, artifacts, "exec-table-"+screen.name)
	}
}

// tableGeometry is where the results table's cells are.
type tableGeometry struct {
	Outside  []string `json:"outside"`  // cells of Exit, Duration, Output not wholly in view
	Sideways int      `json:"sideways"` // how far the table's box scrolls sideways
	Page     int      `json:"page"`     // how far the page does
}

const tableGeometryJS = `(() => {
	const wrap = document.querySelector("#exec-table").closest(".table-wrap");
	const box = wrap.getBoundingClientRect();
	const right = Math.min(box.right, document.documentElement.clientWidth);
	const outside = [];
	document.querySelectorAll("#exec-table tr").forEach((tr, row) => {
		for (const i of [2, 3, 4]) {
			const r = tr.cells[i].getBoundingClientRect();
			if (r.left < box.left - 0.5 || r.right > right + 0.5 || r.width < 16) {
				outside.push("row " + row + " cell " + i + ": " + Math.round(r.left) + "-" + Math.round(r.right) + " of " + Math.round(box.left) + "-" + Math.round(right));
			}
		}
	});
	return {outside, sideways: wrap.scrollWidth - wrap.clientWidth,
		page: document.documentElement.scrollWidth - window.innerWidth};
})()`

// unknownHostKeyServer listens on a loopback port and does the SSH key
// exchange with any client, with a host key no known_hosts holds: every
// job there fails with hostkey-unknown. It returns the port.
func unknownHostKeyServer(t *testing.T) int {
	t.Helper()
	hostKey, _ := sshtest.NewKey(t)
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(stepTimeout))
			// The client gives up at the host key: the handshake
			// fails and the connection ends.
			if sc, _, _, err := ssh.NewServerConn(c, cfg); err == nil {
				sc.Close()
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// openExec shows the Exec tab and waits for its hello.
func (p *page) openExec(t *testing.T) {
	t.Helper()
	p.click(t, "#tab-exec")
	p.poll(t, "exec connected", `wsdeck.exec.channel.state === "open" && wsdeck.exec.hello !== null`)
}
