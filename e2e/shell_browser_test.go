//go:build unix

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// shellText is the shown terminal's buffer, as xterm.js holds it.
const shellText = `wsdeck.shell.text()`

// TestShellBrowser drives the Shell tab in headless Chromium against the
// real sshd: typed keys reach the remote shell and its answer is read
// from xterm.js's buffer; vim opens (the alternate screen) and quits; a
// narrower viewport narrows the remote terminal (tput cols); a reload
// reattaches with the screen as it was; a watcher the owner shares with
// sees the session and cannot type into it; a broadcast runs in each pane;
// a session typed here and ended is replayed from its recording in the
// Recordings tab, showing the same text the terminal showed.
func TestShellBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wsdeck, sshd and Chromium")
	}
	chromium := testpeer.Chromium(t)
	artifacts := artifactDir(t)
	bin := buildWsdeck(t)

	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, 3, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(keyFile, keyPEM, 0o600)
	os.WriteFile(known, []byte(sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), hostSigner.PublicKey())), 0o600)

	state := t.TempDir()
	userAddState(t, bin, state, "ann", "operator", "ann-password")
	userAddState(t, bin, state, "olga", "operator", "olga-password")
	console := startConsole(t, bin, artifacts, "shell-console", "--state-dir", state,
		"--port", strconv.Itoa(srv.Port), "--identity", keyFile, "--known-hosts", known, "--ssh-config", "none")
	b := startBrowser(t, chromium, artifacts)
	ann := b.newPage(t, "ann")
	ann.passwordLogin(t, console.base, "ann", "ann-password")
	if _, err := chromedp.Run(ann.step(t), chromedp.EmulateViewport(1200, 800)); err != nil {
		t.Fatal(err)
	}
	ann.click(t, "#tab-shell")
	ann.poll(t, "shell connected", `wsdeck.shell.channel.state === "open"`)

	ann.do(t, chromedp.SendKeys(chromedp.CSS("#shell-host"), "127.0.0.1"))
	ann.click(t, "#shell-open")
	ann.poll(t, "a terminal attached", `wsdeck.shell.current?.terms[0]?.ch > 0 && wsdeck.shell.current.terms[0].write`)
	typeInto := func(p *page, keys string) {
		t.Helper()
		// As a keyboard types in Chromium: rawKeyDown, then char with the
		// text. (chromedp's keyDown and char would each be typed by
		// xterm.js.)
		raw := func(k *input.DispatchKeyEventParams) {
			if k.Type == kb.KeyDown {
				k.Type = kb.KeyRawDown
			}
		}
		p.do(t, chromedp.Focus(chromedp.CSS(".shell-view:not([hidden]) .xterm-helper-textarea")), chromedp.KeyEvent(keys, raw))
	}
	hasLine := func(line string) string {
		return fmt.Sprintf(`%s.split("\n").some(l => l.trimEnd() === %q)`, shellText, line)
	}

	t.Run("Typed", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				t.Logf("DEBUG text: %q", eval[string](t, ann, shellText))
				t.Logf("DEBUG: %s", eval[string](t, ann, `JSON.stringify({ch: wsdeck.shell.current.terms[0].ch, status: document.getElementById("shell-status").textContent, n: wsdeck.shell.views.length})`))
			}
		}()
		typeInto(ann, "echo $((6*7))"+kb.Enter)
		ann.poll(t, "42 in the terminal", hasLine("42"))
	})

	t.Run("PasteAndMouse", func(t *testing.T) {
		term := `wsdeck.shell.current.terms[0]`
		// A paste, as xterm.js makes one (bracketed: the shell inserts it
		// and waits for Enter).
		eval[bool](t, ann, term+`.term.paste("echo pasted-$((3*3))") ?? true`)
		typeInto(ann, kb.Enter)
		ann.poll(t, "pasted-9", hasLine("pasted-9"))
		// Mouse reporting on, as htop or vim set it: a click in the
		// terminal reaches the remote tty as its report, which the tty
		// echoes (cat -v is reading) as ^[[M and three bytes.
		typeInto(ann, `printf '\033[?1000h'; cat -v`+kb.Enter)
		ann.poll(t, "mouse reporting on in xterm.js", term+`.term.modes.mouseTrackingMode === "vt200"`)
		var box struct{ X, Y float64 }
		box.X = eval[float64](t, ann, `document.querySelector(".shell-view:not([hidden]) .xterm-screen").getBoundingClientRect().x`)
		box.Y = eval[float64](t, ann, `document.querySelector(".shell-view:not([hidden]) .xterm-screen").getBoundingClientRect().y`)
		ann.do(t, chromedp.MouseClickXY(box.X+30, box.Y+30))
		ann.poll(t, "the click's report echoed", shellText+`.includes("^[[M")`)
		eval[bool](t, ann, `(wsdeck.shell.sendInput(`+term+`.ch, "\x03"), true)`) // Ctrl-C ends cat
		typeInto(ann, `printf '\033[?1000l'; echo mouse-$((4*4))`+kb.Enter)
		ann.poll(t, "mouse reporting off again", hasLine("mouse-16")+" && "+term+`.term.modes.mouseTrackingMode === "none"`)
	})

	t.Run("Vim", func(t *testing.T) {
		if _, err := exec.LookPath("vim"); err != nil {
			testpeer.Need(t, "vim", "apt-get install vim", err)
		}
		typeInto(ann, "vim -u NONE -c 'set nocp'"+kb.Enter)
		ann.poll(t, "vim on the alternate screen", `wsdeck.shell.current.terms[0].term.buffer.active.type === "alternate"`)
		typeInto(ann, "ihello from vim"+kb.Escape)
		ann.poll(t, "the text typed in vim", `wsdeck.shell.text().includes("hello from vim")`)
		typeInto(ann, ":q!"+kb.Enter)
		ann.poll(t, "vim gone, the normal screen back", `wsdeck.shell.current.terms[0].term.buffer.active.type === "normal"`)
		if got := eval[bool](t, ann, hasLine("42")); !got {
			t.Error("after vim the normal screen lost its earlier output")
		}
	})

	t.Run("Resize", func(t *testing.T) {
		cols := func() int {
			t.Helper()
			typeInto(ann, "clear; echo cols=$(tput cols)"+kb.Enter)
			want := eval[int](t, ann, `wsdeck.shell.current.terms[0].term.cols`)
			ann.poll(t, "tput cols as xterm.js has it", hasLine(fmt.Sprintf("cols=%d", want)))
			return want
		}
		wide := cols()
		if _, err := chromedp.Run(ann.step(t), chromedp.EmulateViewport(700, 800)); err != nil {
			t.Fatal(err)
		}
		ann.poll(t, "the terminal narrower", fmt.Sprintf(`wsdeck.shell.current.terms[0].term.cols < %d`, wide))
		narrow := cols()
		t.Logf("tput cols: %d, then %d after the viewport went from 1200 to 700 px", wide, narrow)
		if narrow >= wide {
			t.Errorf("tput cols %d after narrowing, was %d", narrow, wide)
		}
		chromedp.Run(ann.step(t), chromedp.EmulateViewport(1200, 800))
	})

	t.Run("ReloadReattaches", func(t *testing.T) {
		typeInto(ann, "echo before-$((5*5))"+kb.Enter)
		ann.poll(t, "before-25", hasLine("before-25"))
		session := eval[string](t, ann, `wsdeck.shell.current.terms[0].session`)
		ann.do(t, chromedp.Reload()) // the page comes back on the Shell tab (#shell)
		ann.poll(t, "the same session attached again", fmt.Sprintf(`wsdeck.shell.current?.terms[0]?.session === %q && wsdeck.shell.current.terms[0].ch > 0`, session))
		ann.poll(t, "the screen back (scrollback replayed)", hasLine("before-25"))
		typeInto(ann, "echo after-$((6*6))"+kb.Enter)
		ann.poll(t, "after-36", hasLine("after-36"))
	})

	t.Run("WatcherCannotType", func(t *testing.T) {
		// ann lets others watch.
		eval[bool](t, ann, `(() => { const s = document.querySelector(".shell-view:not([hidden]) .share");
			s.value = "watch"; s.dispatchEvent(new Event("change")); return true })()`)
		olga := b.newPage(t, "olga")
		olga.passwordLogin(t, console.base, "olga", "olga-password")
		olga.click(t, "#tab-shell")
		olga.poll(t, "shell connected", `wsdeck.shell.channel.state === "open"`)
		olga.click(t, "#shell-refresh")
		olga.poll(t, "ann's session listed", `document.querySelector("#shell-list button")?.textContent === "Watch"`)
		// The list may be drawn again (a refresh's answer) under the
		// click: click the Watch button of the list as it is until the
		// page watches.
		olga.poll(t, "watching, read-only", `(() => {
			if (wsdeck.shell.current?.terms[0]?.ch > 0 && !wsdeck.shell.current.terms[0].write) return true;
			if (!wsdeck.shell.current) document.querySelector("#shell-list button")?.click();
			return false })()`)
		olga.poll(t, "ann's screen", hasLine("after-36"))
		typeInto(olga, "echo olga-typed"+kb.Enter)
		// Forged past the page: the server refuses it too.
		eval[bool](t, olga, `(() => { const t = wsdeck.shell.current.terms[0]; wsdeck.shell.sendInput(t.ch, "echo olga-forged\r"); return true })()`)
		olga.poll(t, "the refusal shown", `document.getElementById("shell-status").textContent.includes("read-only")`)
		typeInto(ann, "echo ann-$((2+3))"+kb.Enter)
		ann.poll(t, "ann-5 at ann's", hasLine("ann-5"))
		olga.poll(t, "ann-5 at olga's", hasLine("ann-5"))
		for _, p := range []*page{ann, olga} {
			if text := eval[string](t, p, shellText); strings.Contains(text, "olga-typed") || strings.Contains(text, "olga-forged") {
				t.Errorf("%s's terminal shows the watcher's input:\n%s", p.name, text)
			}
		}
		olga.screenshot(t, artifacts, "shell-watcher")
	})
	ann.screenshot(t, artifacts, "shell")

	t.Run("Broadcast", func(t *testing.T) {
		eval[bool](t, ann, `(document.getElementById("shell-host").value = "", true)`)
		ann.do(t, chromedp.SendKeys(chromedp.CSS("#shell-host"), "127.0.0.1-3"))
		ann.click(t, "#shell-many")
		ann.click(t, "#shell-open")
		ann.poll(t, "three panes in a grid", `wsdeck.shell.current.group && wsdeck.shell.current.terms.length === 3 &&
			wsdeck.shell.current.terms.every(t => t.ch > 0) && document.querySelectorAll(".shell-view.grid:not([hidden]) .shell-pane").length === 3`)
		pane := func(i int, line string) string {
			return fmt.Sprintf(`wsdeck.shell.text(%d).split("\n").some(l => l.trimEnd() === %q)`, i, line)
		}
		typeInPane := func(i int, keys string) {
			t.Helper()
			sel := fmt.Sprintf(".shell-view:not([hidden]) .shell-pane:nth-child(%d) .xterm-helper-textarea", i+1)
			raw := func(k *input.DispatchKeyEventParams) {
				if k.Type == kb.KeyDown {
					k.Type = kb.KeyRawDown
				}
			}
			ann.do(t, chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(keys, raw))
		}
		// Typed once into the first pane, run in each: each says where it is.
		typeInPane(0, `set -- $SSH_CONNECTION; echo "at-$3"`+kb.Enter)
		defer func() {
			if t.Failed() {
				for i := range 3 {
					t.Logf("pane %d: %q", i, eval[string](t, ann, fmt.Sprintf("wsdeck.shell.current.terms[%d].host + ': ' + wsdeck.shell.text(%[1]d).trimEnd()", i)))
				}
			}
		}()
		ann.poll(t, "each pane ran it on its host", `wsdeck.shell.current.terms.every((t, i) =>
			wsdeck.shell.text(i).split("\n").some(l => l.trimEnd() === "at-" + t.host)) &&
			new Set(wsdeck.shell.current.terms.map(t => t.host)).size === 3`)
		// The second pane out of the broadcast: typed into alone.
		ann.click(t, ".shell-view:not([hidden]) .shell-pane:nth-child(2) .bcast input")
		typeInPane(0, "echo all-$((2*5))"+kb.Enter)
		ann.poll(t, "panes 1 and 3 ran it", pane(0, "all-10")+" && "+pane(2, "all-10"))
		typeInPane(1, "echo alone-$((3*5))"+kb.Enter)
		ann.poll(t, "pane 2 ran its own", pane(1, "alone-15"))
		if eval[bool](t, ann, pane(1, "all-10")+" || "+pane(0, "alone-15")+" || "+pane(2, "alone-15")) {
			t.Error("the broadcast reached the pane taken out of it, or the pane's own input reached the others")
		}
		ann.screenshot(t, artifacts, "shell-broadcast")
		for i := range 3 {
			typeInPane(i, "exit"+kb.Enter)
		}
		ann.poll(t, "the three ended", `wsdeck.shell.current.terms.every(t => t.ended)`)
		ann.do(t, chromedp.Click(chromedp.CSS(".shell-tab"), chromedp.NodeVisible)) // back to the first terminal
	})

	// Close ends the session: no sshd session is left.
	ann.click(t, ".shell-view:not([hidden]) .close")
	ann.poll(t, "the session ended", `wsdeck.shell.current.terms[0].ended`)
	sshtest.Eventually(t, stepTimeout, "sshd sessions left", func() bool { return len(srv.Descendants()) == 0 })

	// A session typed here, then replayed from its recording in the
	// Recordings tab: played to its end, the player shows what the
	// terminal showed.
	t.Run("ReplayOfTheSession", func(t *testing.T) {
		eval[bool](t, ann, `(document.getElementById("shell-many").checked = false, document.getElementById("shell-host").value = "", true)`)
		ann.do(t, chromedp.SendKeys(chromedp.CSS("#shell-host"), "127.0.0.1"))
		ann.click(t, "#shell-open")
		ann.poll(t, "a new terminal attached", `!wsdeck.shell.current.group && wsdeck.shell.current.terms[0].ch > 0 &&
			!wsdeck.shell.current.terms[0].ended && wsdeck.shell.current.terms[0].write`)
		session := eval[string](t, ann, `wsdeck.shell.current.terms[0].session`)
		typeInto(ann, "echo replay-$((6*7))"+kb.Enter)
		ann.poll(t, "replay-42", hasLine("replay-42"))
		// UTF-8 in colour (typed as ASCII: printf makes the é).
		typeInto(ann, `printf '\033[1;32mvert-\303\251t\303\251-%s\033[0m\n' $((2*4))`+kb.Enter)
		ann.poll(t, "vert-été-8", hasLine("vert-été-8"))
		typeInto(ann, "exit"+kb.Enter)
		// xterm.js parses a write later: the flag is set at once, the
		// line the page writes shows a moment after.
		ann.poll(t, "the session ended", `wsdeck.shell.current.terms[0].ended && `+shellText+`.includes("\n[session ended")`)
		// What the terminal showed of the session: up to the line the
		// page adds when a session ends.
		shown := eval[string](t, ann, shellText)
		if i := strings.Index(shown, "\n[session ended"); i >= 0 {
			shown = shown[:i]
		} else {
			t.Fatalf("no end line in the terminal:\n%s", shown)
		}
		shown = strings.TrimRight(shown, "\n")

		id := strings.ReplaceAll(session, ".", "-")
		row := fmt.Sprintf(`#recordings-table tr[data-id=%q]`, id)
		ann.click(t, "#tab-recordings")
		ann.poll(t, "the session's recording listed, ended", fmt.Sprintf(`(() => {
			const tr = document.querySelector(%q);
			if (tr && !tr.textContent.includes("live")) return true;
			document.getElementById("recordings-refresh").click();
			return false })()`, row))
		ann.click(t, row+" .replay-open")
		ann.poll(t, "the player loaded", `!document.getElementById("replay").hidden && wsdeck.recordings.player.pos === 0 && wsdeck.recordings.player.settled`)
		ann.do(t, chromedp.SetValue(chromedp.CSS(".replay-speed"), "8"))
		ann.click(t, ".replay-play")
		ann.poll(t, "played to the end", `!wsdeck.recordings.player.playing && wsdeck.recordings.player.pos === wsdeck.recordings.player.duration && wsdeck.recordings.player.settled`)
		replayed := eval[string](t, ann, `wsdeck.recordings.player.text()`)
		t.Logf("the replay at its end shows %q", replayed)
		if replayed != shown {
			t.Errorf("the replay shows:\n%s\nthe terminal showed:\n%s", replayed, shown)
		}
		for _, want := range []string{"replay-42", "vert-été-8"} {
			if !strings.Contains(replayed, want) {
				t.Errorf("the replay lacks %q", want)
			}
		}
		ann.screenshot(t, artifacts, "shell-replay")
	})
}
