//go:build unix

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsdeck/wsdeck/internal/console/recording"
	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// TestReplayBrowser: a terminal session recorded (through the Go API, on
// the state directory, before the console starts: it is read back after
// that restart) is listed in the Recordings tab and replayed in xterm.js:
// played at 8x to its end it shows the session's text; seeking back to the
// start shows none of it, and a jump to a time shows what was on the
// screen then. (TestShellBrowser/ReplayOfTheSession replays a session typed
// in the page; this one's known times let it check seeking.)
func TestReplayBrowser(t *testing.T) {
	chromium := testpeer.Chromium(t)
	artifacts := artifactDir(t)
	bin := buildWsdeck(t)
	dir := t.TempDir()

	ctx, cancel := context.WithTimeout(t.Context(), stepTimeout)
	defer cancel()
	start := time.Now().Add(-time.Hour)
	func() {
		e, err := engine.Open(ctx, engine.Config{StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Shutdown(context.WithoutCancel(ctx))
		s, err := recording.Open(ctx, e, recording.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.WithoutCancel(ctx))
		r, err := s.Start(record.SessionMeta{ID: "replay1", User: "admin", Host: "web1", Start: start, Cols: 80, Rows: 24})
		if err != nil {
			t.Fatal(err)
		}
		r.Output(start.Add(500*time.Millisecond), []byte("$ "))
		r.Output(start.Add(time.Second), []byte("echo $((6*7))\r\n"))
		r.Output(start.Add(1500*time.Millisecond), []byte("42\r\n$ "))
		r.Resize(start.Add(2*time.Second), 100, 30)
		r.Output(start.Add(3*time.Second), []byte("echo done\r\ndone\r\n$ "))
		r.Close(start.Add(3500 * time.Millisecond))
		<-r.Done()
	}()

	console := startConsole(t, bin, artifacts, "replay-console", "--exec=false", "--state-dir", dir)
	b := startBrowser(t, chromium, artifacts)
	p := b.newPage(t, "admin")
	p.login(t, console.loginURL)
	p.poll(t, "the Recordings tab offered", `!document.getElementById("tab-recordings").hidden`)
	p.click(t, "#tab-recordings")
	p.poll(t, "the recording listed", `document.querySelector('#recordings-table tr[data-id="replay1"]') !== null`)
	if row := eval[string](t, p, `document.querySelector('#recordings-table tr[data-id="replay1"]').textContent`); !strings.Contains(row, "admin") || !strings.Contains(row, "web1") {
		t.Errorf("the row shows %q, want the user and host", row)
	}
	p.click(t, `#recordings-table tr[data-id="replay1"] .replay-open`)
	p.poll(t, "the player loaded at the start", `!document.getElementById("replay").hidden && wsdeck.recordings.player.pos === 0 && wsdeck.recordings.player.settled`)
	if got := eval[string](t, p, `wsdeck.recordings.player.text()`); got != "" {
		t.Errorf("at 0:00 the terminal shows %q, want nothing", got)
	}

	p.do(t, chromedp.SetValue(chromedp.CSS(".replay-speed"), "8"))
	p.click(t, ".replay-play")
	p.poll(t, "played to the end", `!wsdeck.recordings.player.playing && wsdeck.recordings.player.pos === wsdeck.recordings.player.duration && wsdeck.recordings.player.settled`)
	if got, want := eval[string](t, p, `wsdeck.recordings.player.text()`), "$ echo $((6*7))\n42\n$ echo done\ndone\n$ "; got != want {
		t.Errorf("after playing, the terminal shows %q, want %q", got, want)
	}
	if cols := eval[float64](t, p, `wsdeck.recordings.player.term.cols`); cols != 100 {
		t.Errorf("after the recorded resize the terminal has %v columns, want 100", cols)
	}

	// Jump to 0:01.6: the answer is there, the second command not yet.
	p.do(t, chromedp.SetValue(chromedp.CSS(".replay-jump input"), "0:01.6"))
	p.click(t, ".replay-jump button")
	p.poll(t, "jumped", `wsdeck.recordings.player.pos === 1.6 && wsdeck.recordings.player.settled`)
	if got, want := eval[string](t, p, `wsdeck.recordings.player.text()`), "$ echo $((6*7))\n42\n$ "; got != want {
		t.Errorf("at 0:01.6 the terminal shows %q, want %q", got, want)
	}
	p.screenshot(t, artifacts, "replay")
}
