//go:build unix

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// fleetHosts is how many loopback addresses the Fleet test's OpenSSH
// listens on.
const fleetHosts = 100

// TestFleetBrowser drives the Monitor tab's Fleet view in headless
// Chromium against the real wsdeck binary and the real OpenSSH server on
// 127.0.0.1-100: the grid with every host live, sorting by a figure, a
// threshold filter and a name filter, one host's detail with its
// backfill, and "Send to Exec" producing the folded expression. Then it
// feeds the grid 4,096 synthetic hosts updating each second and reports
// the frame times it measures in the page (requestAnimationFrame): a
// figure, not an assertion.
func TestFleetBrowser(t *testing.T) {
	chromium := testpeer.Chromium(t)
	artifacts := artifactDir(t)
	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, fleetHosts, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))
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
	bin := buildWsdeck(t)
	console := startConsole(t, bin, artifacts, "fleet-console",
		"--port", strconv.Itoa(srv.Port), "--identity", keyFile, "--known-hosts", known, "--ssh-config", "none")
	b := startBrowser(t, chromium, artifacts)

	p := b.newPage(t, "fleet")
	p.login(t, console.loginURL)
	p.click(t, "#tab-monitor")
	p.click(t, "#monitor-view-fleet")
	p.setInput(t, "#fleet-expr", "127.0.0.1-100")
	p.click(t, "#fleet-watch")

	t.Run("Grid", func(t *testing.T) {
		p.poll(t, "100 hosts up, each with a CPU figure", `(() => { const f = wsdeck.monitor.fleet;
			return f.hosts.length === 100 && f.counts[0] === 100 && f.cells.every(c => c[0] === 0 && c[1] >= 0 && c[2] > 0); })()`)
		if got := eval[string](t, p, `document.getElementById("fleet-counts").textContent`); !strings.HasPrefix(got, "100 up · 0 stale · 0 down · 100 shown") {
			t.Errorf("counts: %q", got)
		}
		if h := eval[int](t, p, `document.getElementById("fleet-grid").height`); h == 0 {
			t.Error("the grid's canvas has no height")
		}
		p.screenshot(t, artifacts, "fleet-grid")
	})

	t.Run("Sort", func(t *testing.T) {
		// In one evaluation, so that no tick comes between the sort and
		// the check.
		ok := eval[bool](t, p, `(() => { const f = wsdeck.monitor.fleet;
			f.figure.value = "mem"; f.sort.value = "value"; f.layout();
			const vals = f.order.map(i => f.cells[i][2]);
			return f.order.length === 100 && vals.every((v, k) => k === 0 || vals[k-1] >= v); })()`)
		if !ok {
			t.Error("sorted by memory, the cells are not in descending order")
		}
		p.setInput(t, "#fleet-sort", "name")
		if first := eval[string](t, p, `wsdeck.monitor.fleet.hosts[wsdeck.monitor.fleet.order[0]]`); first != "127.0.0.1" {
			t.Errorf("sorted by name, the first cell is %s", first)
		}
	})

	t.Run("ThresholdFilter", func(t *testing.T) {
		// A threshold at the median CPU figure: the cells shown are
		// exactly those above it.
		res := eval[[]int](t, p, `(() => { const f = wsdeck.monitor.fleet;
			const cpus = f.cells.map(c => c[1]).sort((a, b) => a - b);
			const m = cpus[50];
			const el = document.getElementById("fleet-filter");
			el.value = "cpu > " + m; el.dispatchEvent(new Event("input"));
			const want = f.cells.filter(c => c[1] > m).length;
			const wrong = f.order.filter(i => !(f.cells[i][1] > m)).length;
			return [f.order.length, want, wrong]; })()`)
		if res[0] != res[1] || res[2] != 0 {
			t.Errorf("threshold filter shows %d cells, want %d (%d not above it)", res[0], res[1], res[2])
		}
		p.setInput(t, "#fleet-filter", "mem > 100")
		if n := eval[int](t, p, `wsdeck.monitor.fleet.order.length`); n != 0 {
			t.Errorf("mem > 100 shows %d cells", n)
		}
		p.setInput(t, "#fleet-filter", "")
	})

	t.Run("Detail", func(t *testing.T) {
		// Click the cell of 127.0.0.7, where the grid draws it.
		p.poll(t, "the grid laid out", `wsdeck.monitor.fleet.geo !== undefined && wsdeck.monitor.fleet.order.length === 100`)
		eval[bool](t, p, `(() => { const f = wsdeck.monitor.fleet; const k = f.order.indexOf(f.hosts.indexOf("127.0.0.7"));
			const r = f.canvas.getBoundingClientRect();
			const x = r.left + (k % f.geo.cols + 0.5) * f.geo.size, y = r.top + (Math.floor(k / f.geo.cols) + 0.5) * f.geo.size;
			f.canvas.dispatchEvent(new MouseEvent("click", {clientX: x, clientY: y, bubbles: true})); return true; })()`)
		p.poll(t, "the detail of 127.0.0.7 with its backfill", `wsdeck.monitor.fleet.detail?.host === "127.0.0.7" &&
			!document.getElementById("fleet-detail").hidden && wsdeck.monitor.fleet.points() >= 3`)
		backfill := eval[int](t, p, `wsdeck.monitor.fleet.points()`)
		p.poll(t, "the detail grows live", fmt.Sprintf(`wsdeck.monitor.fleet.points() > %d`, backfill))
		if txt := eval[string](t, p, `document.getElementById("fleet-detail-host").textContent`); txt != "127.0.0.7" {
			t.Errorf("detail title %q", txt)
		}
		p.screenshot(t, artifacts, "fleet-detail")
	})

	t.Run("SendToExec", func(t *testing.T) {
		p.setInput(t, "#fleet-filter", "127.0.0.1")
		var shown []hostexpr.Host
		for _, name := range eval[[]string](t, p, `wsdeck.monitor.fleet.selected()`) {
			hs, err := hostexpr.Parse(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			shown = append(shown, hs...)
		}
		if len(shown) != 12 { // 1, 10-19, 100
			t.Fatalf("the name filter shows %d hosts", len(shown))
		}
		want := hostexpr.Fold(shown)
		p.click(t, "#fleet-send")
		p.poll(t, "the Exec tab with the folded expression", fmt.Sprintf(`location.hash === "#exec" &&
			document.getElementById("exec-hosts").value === %q`, want))
		p.poll(t, "Exec counts them", `document.getElementById("exec-count").textContent.startsWith("12 hosts")`)
		t.Logf("sent to Exec: %s", want)
	})

	t.Run("FrameTime4096", func(t *testing.T) {
		p.click(t, "#tab-monitor")
		p.poll(t, "the fleet view shown", `!document.getElementById("fleet").hidden`)
		// The page's socket is stopped; 4,096 synthetic hosts get a
		// tick each second for 8 seconds, every figure changing.
		eval[bool](t, p, `(() => { const f = wsdeck.monitor.fleet; f.channel.stop();
			const hosts = []; for (let i = 0; i < 4096; i++) hosts.push("10." + (i >> 8) + "." + (i & 255) + ".1");
			document.getElementById("fleet-filter").value = "";
			f.receive({type: "hosts", expr: "synthetic", hosts});
			f.frames.length = 0; f.gaps.length = 0; window.fleetTicks = [];
			let n = 0;
			const tick = () => {
				const cells = hosts.map(() => [Math.random() < 0.02 ? 1 : 0, Math.round(Math.random() * 1000) / 10, Math.random() * 100, Math.random() * 4, Math.random() * 1e6, Math.random() * 1e6, 50]);
				const t0 = performance.now();
				f.receive({type: "tick", t: Date.now(), counts: [4000, 96, 0], cells});
				window.fleetTicks.push(performance.now() - t0);
				if (++n < 8) setTimeout(tick, 1000); else window.fleetDone = true;
			};
			tick(); return true; })()`)
		p.poll(t, "8 synthetic ticks drawn", `window.fleetDone === true && wsdeck.monitor.fleet.frames.length >= 8`)
		figs := eval[map[string]float64](t, p, `(() => { const f = wsdeck.monitor.fleet;
			const q = (a, p) => { const s = a.slice().sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
			return {draws: f.frames.length, draw_p50: q(f.frames, .5), draw_max: Math.max(...f.frames),
				tick_p50: q(window.fleetTicks, .5), tick_max: Math.max(...window.fleetTicks),
				frame_p50: f.gaps.length ? q(f.gaps, .5) : 0, cells: f.order.length}; })()`)
		t.Logf("4,096 hosts, 8 ticks: draw %.1f ms median, %.1f ms max; filter+sort+counts per tick %.1f ms median, %.1f ms max (%v cells; a noisy shared machine)",
			figs["draw_p50"], figs["draw_max"], figs["tick_p50"], figs["tick_max"], figs["cells"])
		if figs["cells"] != 4096 {
			t.Errorf("%v cells shown, want 4096", figs["cells"])
		}
		os.WriteFile(filepath.Join(artifacts, "fleet-frame-times.txt"), fmt.Appendf(nil, "%v\n", figs), 0o644)
		p.screenshot(t, artifacts, "fleet-4096")
	})
}
