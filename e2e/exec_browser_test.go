//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// execHosts is how many loopback addresses the Exec test's OpenSSH
// listens on.
const execHosts = 20

// execRow is a row of the Exec tab's results table, as the page shows it.
type execRow struct {
	Host    string `json:"host"`
	State   string `json:"state"`
	Status  string `json:"status"`
	Exit    string `json:"exit"`
	Visible bool   `json:"visible"`
}

const execRowsJS = `[...document.querySelectorAll("#exec-table tbody tr")].map(tr => ({
	host: tr.cells[0].textContent, state: tr.dataset.state, status: tr.cells[1].textContent,
	exit: tr.cells[2].textContent, visible: tr.offsetParent !== null}))`

// testExec runs jobs from the Exec tab of a console of its own, against the
// real OpenSSH server on 127.0.0.1-20: the count before running, a
// refusal beyond --allow-hosts, every host's lines in the terminal, the
// results table and its failure filter, a second viewer, Cancel, and the
// audit log.
func testExec(t *testing.T, b *browser, bin, artifacts string) {
	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, execHosts, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	line := sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), hostSigner.PublicKey())
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(artifacts, "exec-audit.jsonl")
	os.Remove(audit)
	console := startConsole(t, bin, artifacts, "exec-console",
		"--port", strconv.Itoa(srv.Port), "--identity", keyFile, "--known-hosts", known,
		"--ssh-config", "none", "--audit-log", audit, "--kill-grace", "1s")

	carol := b.newPage(t, "carol")
	carol.login(t, console.loginURL)
	carol.click(t, "#tab-exec")
	carol.poll(t, "exec connected", `wsdeck.exec.channel.state === "open" && wsdeck.exec.hello !== null`)

	// The count comes before anything runs, and a host beyond
	// --allow-hosts (loopback and local by default) is named and keeps
	// Run disabled.
	carol.setInput(t, "#exec-command", `set -- $SSH_CONNECTION; echo "hello from $3"; [ "$3" != 127.0.0.7 ] || { echo "seven is unlucky" >&2; exit 7; }`)
	carol.setInput(t, "#exec-hosts", "127.0.0.1-20,192.0.2.1")
	carol.poll(t, "refused host named", `document.getElementById("exec-count").dataset.kind === "error" &&
		document.getElementById("exec-count").textContent.includes("not allowed on this console: 192.0.2.1")`)
	if !eval[bool](t, carol, `document.getElementById("exec-run").disabled`) {
		t.Error("Run enabled for a host beyond --allow-hosts")
	}
	carol.setInput(t, "#exec-hosts", "127.0.0.1-20")
	carol.poll(t, "count shown", `document.getElementById("exec-count").textContent === "20 hosts: 127.0.0.[1-20]" &&
		!document.getElementById("exec-run").disabled`)

	carol.click(t, "#exec-run")
	carol.poll(t, "job finished", `wsdeck.exec.summary !== null`)
	carol.waitTermSummary(t)

	text := eval[string](t, carol, "wsdeck.exec.termText()")
	lines := map[string]bool{}
	for l := range strings.SplitSeq(text, "\n") {
		lines[strings.TrimRight(l, " ")] = true
	}
	for i := 1; i <= execHosts; i++ {
		if want := fmt.Sprintf("127.0.0.%d: hello from 127.0.0.%[1]d", i); !lines[want] {
			t.Errorf("terminal has no line %q", want)
		}
	}
	if !lines["127.0.0.7: seven is unlucky"] {
		t.Error("terminal has no stderr line from 127.0.0.7")
	}
	if !strings.Contains(text, "ok 19  failed 1 (127.0.0.7)") {
		t.Errorf("terminal has no summary line:\n%s", text)
	}

	rows := eval[[]execRow](t, carol, execRowsJS)
	if len(rows) != execHosts {
		t.Fatalf("results table has %d rows, want %d", len(rows), execHosts)
	}
	for i, r := range rows {
		want := execRow{Host: fmt.Sprintf("127.0.0.%d", i+1), State: "ok", Status: "ok", Exit: "0", Visible: true}
		if i == 6 {
			want.State, want.Status, want.Exit = "failed", "exit", "7"
		}
		if r != want {
			t.Errorf("row %d: %+v, want %+v", i, r, want)
		}
	}
	if p := eval[string](t, carol, `document.getElementById("exec-progress").textContent`); !strings.Contains(p, "done 20/20") || !strings.Contains(p, "failed 1") {
		t.Errorf("progress line %q", p)
	}
	carol.click(t, "#exec-failures")
	visible := 0
	for _, r := range eval[[]execRow](t, carol, execRowsJS) {
		if r.Visible {
			visible++
			if r.Host != "127.0.0.7" {
				t.Errorf("failures only shows %s", r.Host)
			}
		}
	}
	if visible != 1 {
		t.Errorf("failures only shows %d rows, want 1", visible)
	}
	carol.click(t, "#exec-failures")
	carol.screenshot(t, artifacts, "exec")

	// Another viewer who arrives later sees the job that ran.
	dave := b.newPage(t, "dave")
	dave.login(t, console.loginURL)
	dave.click(t, "#tab-exec")
	dave.poll(t, "finished job replayed", `wsdeck.exec.summary !== null && wsdeck.exec.summary.failed === 1`)
	dave.waitTermSummary(t)
	if got := eval[string](t, dave, "wsdeck.exec.termText()"); !strings.Contains(got, "127.0.0.20: hello from 127.0.0.20") {
		t.Errorf("the second viewer's terminal lacks the job's output:\n%s", got)
	}

	// Cancel, from the second viewer, stops a job that both watch.
	carol.setInput(t, "#exec-command", "echo started; sleep 60")
	carol.poll(t, "run enabled", `!document.getElementById("exec-run").disabled`)
	carol.click(t, "#exec-run")
	dave.poll(t, "every host started", `wsdeck.exec.job.command === "echo started; sleep 60" && wsdeck.exec.lines === 20`)
	dave.click(t, "#exec-cancel")
	for _, p := range []*page{carol, dave} {
		p.poll(t, "job cancelled", `wsdeck.exec.summary !== null && wsdeck.exec.summary.canceled === true`)
		for _, r := range eval[[]execRow](t, p, execRowsJS) {
			if r.State != "failed" || !strings.HasPrefix(r.Status, "canceled") {
				t.Errorf("%s: after cancel, row %+v", p.name, r)
			}
		}
	}

	// Nothing of the cancelled job is left on the servers: no session, no
	// command.
	sshtest.Eventually(t, stepTimeout, "sshd sessions left after cancel", func() bool { return len(srv.Descendants()) == 0 })

	// The Jobs list has both jobs, newest first, and opens the first
	// again with its output and results.
	dave.poll(t, "both jobs listed", `[...document.querySelectorAll("#exec-jobs tbody tr")].map(tr => tr.dataset.state).join() === "cancelled,failed"`)
	dave.click(t, "#exec-jobs tbody tr:nth-child(2)")
	dave.poll(t, "the first job opened from the list", `wsdeck.exec.job?.command.includes("seven is unlucky") &&
		wsdeck.exec.summary !== null && wsdeck.exec.summary.failed === 1`)
	dave.waitTermSummary(t)
	if got := eval[string](t, dave, "wsdeck.exec.termText()"); !strings.Contains(got, "127.0.0.20: hello from 127.0.0.20") {
		t.Errorf("the job opened from the list lacks its output:\n%s", got)
	}
	if rows := eval[[]execRow](t, dave, execRowsJS); len(rows) != execHosts || rows[6].Exit != "7" {
		t.Errorf("the job opened from the list: results %+v", rows)
	}
	dave.setInput(t, "#exec-jobs-text", "sleep 60")
	dave.poll(t, "the list filtered by text", `[...document.querySelectorAll("#exec-jobs tbody tr")].map(tr => tr.dataset.state).join() === "cancelled"`)
	dave.setInput(t, "#exec-jobs-text", "")
	dave.poll(t, "the filter cleared", `document.querySelectorAll("#exec-jobs tbody tr").length === 2`)

	// On a phone the tab fits the screen.
	if _, err := chromedp.Run(dave.step(t), chromedp.EmulateViewport(390, 844, chromedp.EmulatePortrait)); err != nil {
		t.Fatal(err)
	}
	if w := eval[int](t, dave, "document.documentElement.scrollWidth - window.innerWidth"); w > 0 {
		t.Errorf("Exec tab on a phone: %d pixels wider than the screen", w)
	}
	dave.screenshot(t, artifacts, "exec-phone")

	// The audit log holds both jobs, with their results.
	console.stop(t)
	recs, err := readAuditExport(audit)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("audit log has %d records, want 4 (start and end of two jobs)", len(recs))
	}
	end := recs[1]
	if end.Event != "end" || end.Hosts != execHosts || end.OK != 19 || end.Failed != 1 ||
		!strings.HasPrefix(end.Client, "web 127.0.0.1:") || !strings.Contains(end.Command, "seven is unlucky") {
		t.Errorf("first job's end record: %+v", end)
	}
	if !recs[3].Canceled {
		t.Errorf("second job's end record is not cancelled: %+v", recs[3])
	}
}

// setInput replaces the value of the input sel and tells the page, as
// typing would.
func (p *page) setInput(t *testing.T, sel, value string) {
	t.Helper()
	eval[bool](t, p, fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q;
		el.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, sel, value))
}

// waitTermSummary waits for the job's summary line (it ends with
// "elapsed ...") to reach the terminal's buffer: xterm.js parses what it
// is written asynchronously, after wsdeck.exec.summary is set.
func (p *page) waitTermSummary(t *testing.T) {
	t.Helper()
	p.poll(t, "summary line in the terminal", `/  elapsed \S+\s*$/m.test(wsdeck.exec.termText())`)
}

// auditRecord is what the test reads of a record of the audit export
// (--audit-log): JSON lines, as package audit writes them. It reads the
// file itself, so that this module does not import the engine.
type auditRecord struct {
	Event    string `json:"event"`
	Hosts    int    `json:"hosts"`
	OK       int    `json:"ok"`
	Failed   int    `json:"failed"`
	Client   string `json:"client"`
	Command  string `json:"command"`
	Canceled bool   `json:"canceled"`
	State    string `json:"state"`
}

func readAuditExport(path string) ([]auditRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []auditRecord
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var r auditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return out, fmt.Errorf("audit export line %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
