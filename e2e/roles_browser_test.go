//go:build unix

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// rolesPolicy is the policy of TestRolesBrowser: web and db are loopback
// addresses, here is the console's own machine (a job there needs no
// SSH); olga operates on web and here.
const rolesPolicy = `groups:
  web: 127.0.0.1-3
  db: 127.0.0.4
  here: local
bindings:
  - users: [olga]
    role: operator
    hosts: [web, here]
`

// TestRolesBrowser runs a console in team mode with a policy file, its
// users added with wsdeck user add on its state directory before it
// starts, and drives it in headless Chromium through the login page: a
// viewer sees no Run form, and a run forged on the page's own socket is
// refused by the server with the reason; an operator limited to @web is
// offered its groups, is refused @db (named) and a host outside its
// groups (named), also when forged, and runs on its own group; a SIGHUP
// with a new policy applies to her open page's next message, and one with
// a bad file is refused and changes nothing; the audit log names the
// user, the method and the role, and each read of the policy; the chat
// shows the login and refuses another name.
func TestRolesBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wsdeck and Chromium")
	}
	chromium := testpeer.Chromium(t)
	artifacts := artifactDir(t)
	bin := buildWsdeck(t)
	state := t.TempDir()
	// The embedded engine: the users go in before the console holds the
	// state directory.
	userAddState(t, bin, state, "vera", "viewer", "vera-password")
	userAddState(t, bin, state, "olga", "viewer", "olga-password") // an operator by the policy's binding
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(rolesPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	auditFile := filepath.Join(artifacts, "roles-audit.jsonl")
	os.Remove(auditFile)
	console := startConsole(t, bin, artifacts, "roles-console", "--state-dir", state,
		"--policy", policyFile, "--allow-hosts", "127.0.0.0/8,local", "--audit-log", auditFile)
	b := startBrowser(t, chromium, artifacts)

	t.Run("Viewer", func(t *testing.T) {
		vera := b.newPage(t, "vera")
		vera.passwordLogin(t, console.base, "vera", "vera-password")
		vera.click(t, "#tab-exec")
		vera.poll(t, "exec connected", `wsdeck.exec.channel.state === "open" && wsdeck.exec.hello !== null`)
		if h := eval[string](t, vera, `JSON.stringify([wsdeck.exec.hello.user, wsdeck.exec.hello.role, wsdeck.exec.hello.may_run])`); h != `["vera","viewer",false]` {
			t.Errorf("vera's hello: %s", h)
		}
		vera.poll(t, "no Run form", `document.getElementById("exec-form").hidden &&
			document.getElementById("exec-run").offsetParent === null &&
			document.getElementById("exec-status").textContent.includes("you may watch jobs")`)
		vera.screenshot(t, artifacts, "roles-viewer")

		m := forge(t, vera, map[string]string{"type": "run", "id": "forged", "hosts": "127.0.0.1", "command": "touch /tmp/wsdeck-forged"})
		if m.Code != "denied" || !strings.Contains(m.Error, "viewer: may not run jobs") {
			t.Errorf("a viewer's forged run: %+v, want denied: viewer: may not run jobs", m)
		}
		vera.poll(t, "the refusal shown", `document.getElementById("exec-status").textContent.includes("viewer: may not run jobs")`)
		if n := eval[int](t, vera, `wsdeck.exec.jobs.length`); n != 0 {
			t.Errorf("a forged run made %d jobs", n)
		}
		// The chat shows her login, and she cannot take another name.
		vera.poll(t, "named by her login", `wsdeck.chat.nick === "vera" && document.getElementById("nick").readOnly`)
		m = forgeChat(t, vera, map[string]string{"type": "nick", "nick": "olga"})
		if m.Code != "invalid" || !strings.Contains(m.Error, "your name is your login, vera") {
			t.Errorf("a forged nick: %+v, want it refused", m)
		}
	})

	t.Run("Operator", func(t *testing.T) {
		olga := b.newPage(t, "olga")
		olga.passwordLogin(t, console.base, "olga", "olga-password")
		// Her own role is viewer; the header shows the policy's.
		olga.poll(t, "the header says operator", `document.getElementById("whoami-role").textContent === "operator"`)
		olga.click(t, "#tab-exec")
		olga.poll(t, "exec connected", `wsdeck.exec.channel.state === "open" && wsdeck.exec.hello !== null`)
		olga.poll(t, "her groups offered", `!document.getElementById("exec-form").hidden &&
			[...document.querySelectorAll("#exec-who button")].map(b => b.textContent).join(",") === "@here,@web"`)
		olga.setInput(t, "#exec-command", "echo hi from $USER")

		// @db is not hers: the count says so, Run stays off, and a forged
		// run is refused naming the group.
		olga.setInput(t, "#exec-hosts", "@db")
		olga.poll(t, "@db refused in the count", `document.getElementById("exec-count").dataset.kind === "error" &&
			document.getElementById("exec-count").textContent.includes("@db is not one of olga's") &&
			document.getElementById("exec-run").disabled`)
		olga.screenshot(t, artifacts, "roles-operator-db")
		m := forge(t, olga, map[string]string{"type": "run", "id": "forged", "hosts": "@db", "command": "true"})
		if m.Code != "denied" || !strings.Contains(m.Error, "@db is not one of olga's (here, web)") {
			t.Errorf("olga's forged run on @db: %+v", m)
		}
		// The same hosts by address: refused, naming them.
		olga.setInput(t, "#exec-hosts", "@web,127.0.0.4")
		olga.poll(t, "127.0.0.4 named in the count", `document.getElementById("exec-count").dataset.kind === "error" &&
			document.getElementById("exec-count").textContent.includes("127.0.0.4") && document.getElementById("exec-run").disabled`)
		m = forge(t, olga, map[string]string{"type": "run", "id": "forged", "hosts": "@web,127.0.0.4", "command": "true"})
		if m.Code != "denied" || !strings.Contains(m.Error, "127.0.0.4 outside the host groups of olga") {
			t.Errorf("olga's forged run on 127.0.0.4: %+v", m)
		}

		// Her own group: a click on @here puts it in, and it runs.
		olga.setInput(t, "#exec-hosts", "")
		olga.click(t, `#exec-who button[data-group="here"]`)
		olga.poll(t, "@here counted", `document.getElementById("exec-hosts").value === "@here" &&
			document.getElementById("exec-count").textContent === "1 host: local" && !document.getElementById("exec-run").disabled`)
		olga.click(t, "#exec-run")
		olga.poll(t, "job finished", `wsdeck.exec.summary !== null && wsdeck.exec.job.user === "olga"`)
		olga.waitTermSummary(t)
		olga.poll(t, "chat named olga", `wsdeck.chat.nick === "olga"`)

		// SIGHUP with a policy that takes @here from her: her open page
		// offers @web alone and its next count of @here is refused,
		// without a reconnect or a new login; a bad file after it changes
		// nothing.
		if err := os.WriteFile(policyFile, []byte(strings.Replace(rolesPolicy, "hosts: [web, here]", "hosts: [web]", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := console.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitAudit(t, auditFile, "the reload", func(r rolesAuditRecord) bool {
			return r.Event == "policy" && strings.HasPrefix(r.Reason, "reloaded, sha256 ")
		})
		olga.poll(t, "her groups now offered", `[...document.querySelectorAll("#exec-who button")].map(b => b.textContent).join(",") === "@web"`)
		olga.setInput(t, "#exec-hosts", "@here")
		olga.poll(t, "@here refused after the reload", `document.getElementById("exec-count").textContent.includes("@here is not one of olga's (web)") &&
			document.getElementById("exec-run").disabled`)
		if err := os.WriteFile(policyFile, []byte("groups: [\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := console.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitAudit(t, auditFile, "the refusal of a bad file", func(r rolesAuditRecord) bool {
			return r.Event == "policy" && strings.HasPrefix(r.Reason, "refused, sha256 ") && strings.Contains(r.Reason, policyFile+":")
		})
		olga.setInput(t, "#exec-hosts", "@web")
		olga.poll(t, "@web still hers", `document.getElementById("exec-count").textContent === "3 hosts: 127.0.0.[1-3]"`)
	})

	// The audit export: the job's records name olga, her way in and the
	// role she ran it with; the policy's load is there with its hash.
	recs := waitAudit(t, auditFile, "the job's end", func(r rolesAuditRecord) bool { return r.Event == "end" })
	var job []rolesAuditRecord
	policyLoads := 0
	for _, r := range recs {
		switch r.Event {
		case "start", "end":
			job = append(job, r)
		case "policy":
			policyLoads++
			if r.Client != "policy "+policyFile {
				t.Errorf("policy record %+v", r)
			}
			if policyLoads == 1 && !strings.HasPrefix(r.Reason, "loaded at start, sha256 ") {
				t.Errorf("first policy record %+v, want the load at start", r)
			}
		}
	}
	if len(job) != 2 || policyLoads != 3 {
		t.Fatalf("audit: %d job records and %d policy loads, want 2 and 3: %+v", len(job), policyLoads, recs)
	}
	for _, r := range job {
		if r.User != "olga" || r.Method != "password" || r.Role != "operator" || r.Expression != "@here" {
			t.Errorf("job audit record %+v: want olga, password, operator, @here", r)
		}
	}
}

// wireError is an error message of a console socket.
type wireError struct {
	Type, ID, Code, Error string
}

// forge sends msg on the page's own Exec socket, as a page altered in
// DevTools would, and returns the server's error answer to it.
func forge(t *testing.T, p *page, msg map[string]string) wireError {
	return forgeOn(t, p, "wsdeck.exec.channel", msg)
}

// forgeChat does as forge on the chat's socket.
func forgeChat(t *testing.T, p *page, msg map[string]string) wireError {
	return forgeOn(t, p, "wsdeck.chat.channel", msg)
}

func forgeOn(t *testing.T, p *page, channel string, msg map[string]string) wireError {
	t.Helper()
	b, _ := json.Marshal(msg)
	// Listen on the socket for the next error, then send the message raw.
	eval[bool](t, p, fmt.Sprintf(`(() => {
		const ws = %s.ws;
		window.__forged = null;
		ws.addEventListener("message", function on(ev) {
			const m = JSON.parse(ev.data);
			if (m.type === "error") { window.__forged = m; ws.removeEventListener("message", on); }
		});
		ws.send(%q);
		return true;
	})()`, channel, b))
	p.poll(t, "an answer to the forged "+msg["type"], `window.__forged !== null`)
	var m wireError
	if err := json.Unmarshal([]byte(eval[string](t, p, `JSON.stringify(window.__forged)`)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// userAddState runs wsdeck user add on the state directory of a console
// that is not running (the embedded engine).
func userAddState(t *testing.T, bin, state, name, role, password string) {
	t.Helper()
	cmd := exec.Command(bin, "user", "add", name, "--role", role, "--password-stdin", "--state-dir", state)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wsdeck user add %s: %v\n%s", name, err, out)
	}
}

// waitAudit waits until the audit export at path holds a record match
// accepts, and returns the records.
func waitAudit(t *testing.T, path, what string, match func(rolesAuditRecord) bool) []rolesAuditRecord {
	t.Helper()
	var recs []rolesAuditRecord
	poll.Until(t, stepTimeout, what+" in the audit export", func() bool {
		recs = readRolesAudit(t, path)
		return slices.ContainsFunc(recs, match)
	})
	return recs
}

// rolesAuditRecord is what the test reads of an audit export's record.
type rolesAuditRecord struct {
	Event      string `json:"event"`
	Client     string `json:"client"`
	Expression string `json:"expression"`
	User       string `json:"user"`
	Method     string `json:"method"`
	Role       string `json:"role"`
	Reason     string `json:"reason"`
}

func readRolesAudit(t *testing.T, path string) []rolesAuditRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []rolesAuditRecord
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var r rolesAuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}
