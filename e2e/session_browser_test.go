//go:build unix

package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// testSessions drives a console of its own with a per-client cap of 2
// sockets: a second tab of the same login, over the cap, shows that the
// server is full (and why) while another person still connects, and gets
// in by itself once a slot is free; Log out in one tab then shows the
// other tab that it is logged out, and it stops retrying.
func testSessions(t *testing.T, b *browser, bin, artifacts string) {
	console := startConsole(t, bin, artifacts, "sessions-console", "--exec=false", "--max-conns-per-client", "2")
	carol := b.newPage(t, "carol")
	carol.login(t, console.loginURL)
	carol.click(t, "#tab-monitor")
	carol.poll(t, "monitor connected", `wsdeck.monitor.channel.state === "open"`)

	// Chat and Monitor: carol's session holds its 2 sockets. Her second
	// tab (same browser, same cookie) is refused.
	carol2 := carol.newTab(t, "carol's second tab")
	carol2.navigate(t, console.base+"/")
	carol2.poll(t, "server full shown", `wsdeck.chat.channel.state === "full" &&
		document.getElementById("conn-label").textContent.startsWith("Server full: too many connections (from you), retrying in ")`)
	if p := eval[map[string]any](t, carol2, "wsdeck.chat.channel.lastProbe"); p["status"] != float64(503) || p["limit"] != "client" {
		t.Errorf("the probe after the refused handshake saw %v, want 503 for this client", p)
	}
	carol2.screenshot(t, artifacts, "server-full")

	// Someone else still gets in.
	dave := b.newPage(t, "dave")
	dave.login(t, console.loginURL)

	// A slot comes free (carol's first tab leaves Monitor): the second
	// tab connects on its next try.
	carol.click(t, "#tab-chat")
	carol2.poll(t, "connected once a slot is free", `wsdeck.chat.channel.state === "open" &&
		document.getElementById("conn-label").textContent === "connected"`)

	// Log out in the first tab.
	carol.click(t, "#logout")
	carol.poll(t, "logged out shown", `wsdeck.chat.channel.state === "ended" &&
		document.getElementById("conn-label").textContent === "Logged out: log in again" &&
		!document.getElementById("session-notice").hidden`)
	// The second tab: its socket is closed with 4401, it asks, and shows
	// it is logged out, with how to log in again.
	carol2.poll(t, "logged out shown in the other tab", `wsdeck.chat.channel.state === "ended" &&
		document.getElementById("conn-label").textContent === "Logged out: log in again" &&
		document.getElementById("session-notice").textContent.includes("login URL")`)
	if code := eval[int](t, carol2, "wsdeck.chat.channel.lastClose.code"); code != 4401 {
		t.Errorf("the other tab's socket closed with %d, want 4401", code)
	}
	// It has stopped: no socket, no retry pending, and Monitor will not
	// try either.
	carol2.click(t, "#tab-monitor")
	if !eval[bool](t, carol2, `wsdeck.chat.channel.ws === null && wsdeck.chat.channel.timer === null &&
		wsdeck.monitor.channel.ws === null && wsdeck.monitor.channel.state === "ended"`) {
		t.Error("a logged-out tab still connects or retries")
	}
	carol2.screenshot(t, artifacts, "logged-out")
	// The logged-out cookie is gone from the browser; dave is untouched.
	if res, err := chromedp.Call(carol.step(t), network.GetCookies, network.GetCookiesParams{URLs: []string{console.base}}); err != nil {
		t.Fatal(err)
	} else if len(res.Cookies) != 0 {
		t.Errorf("after logout the browser still has %d cookies for the console", len(res.Cookies))
	}
	dave.poll(t, "dave still connected", `wsdeck.chat.channel.state === "open"`)
	console.waitLog(t, func(r logRecord) bool { return r.Msg == "session ended: closing its sockets" })
}

// newTab opens another tab in p's browser context: the same cookies, as a
// second tab of the same browser has.
func (p *page) newTab(t *testing.T, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, for as long as ctx lives
		t.Fatalf("opening a tab: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	return &page{name: name, ctx: ctx}
}

// blockSockets takes p offline for endpoint: its WebSocket handshakes, and
// the GETs it sends to learn why they failed, fail as if the network
// dropped them, until the returned function is called. (Network.
// setBlockedURLs would not do: Chromium does not apply it to WebSockets.)
func (p *page) blockSockets(t *testing.T, base, endpoint string) (unblock func()) {
	t.Helper()
	set := func(conditions []*network.Conditions) {
		t.Helper()
		if _, err := chromedp.Call(p.step(t), network.EmulateNetworkConditionsByRule,
			network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: conditions}); err != nil {
			t.Fatal(err)
		}
	}
	set([]*network.Conditions{{
		URLPattern: "*://" + strings.TrimPrefix(base, "http://") + endpoint + "*",
		Offline:    true, DownloadThroughput: -1, UploadThroughput: -1,
	}})
	return func() { set([]*network.Conditions{}) }
}
