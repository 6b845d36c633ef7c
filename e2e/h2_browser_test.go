//go:build unix

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsdeck/wsdeck/internal/testkit/selfsigned"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// TestBrowserHTTP2 drives headless Chromium against the console under TLS,
// started with no GODEBUG in its environment (the binary turns on
// net/http's extended CONNECT itself, with websocket/xconnect): the page
// loads over HTTP/2, and its chat socket and two more it opens arrive at
// the console as HTTP/2 streams (RFC 8441) of one connection (the
// console's "websocket open" log names the protocol and the remote
// address). The chat works over them, permessage-deflate is agreed, and
// the extra sockets close cleanly with 1000.
func TestBrowserHTTP2(t *testing.T) {
	chromium := testpeer.Chromium(t)
	artifacts := artifactDir(t)
	bin := buildWsdeck(t)
	certFile, keyFile, _ := selfsigned.Cert(t)
	t.Setenv("GODEBUG", "") // the console's environment (startConsole): nothing turns on extended CONNECT
	console := startConsole(t, bin, artifacts, "console-h2", "--exec=false", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(console.base, "https://") {
		t.Fatalf("console at %s, want https", console.base)
	}
	b := startBrowser(t, chromium, artifacts, chromedp.Flag("ignore-certificate-errors", true))
	p := b.newPage(t, "h2")
	p.login(t, console.loginURL)
	if proto := eval[string](t, p, `performance.getEntriesByType("navigation")[0].nextHopProtocol`); proto != "h2" {
		t.Fatalf("the page loaded over %q, want h2", proto)
	}
	p.setNick(t, "h2")
	p.say(t, "hello over HTTP/2")
	p.waitMessage(t, "h2", "hello over HTTP/2")

	// Two more sockets from the same page: the same connection carries them.
	eval[bool](t, p, `(window.h2socks = [0, 1].map(() => {
		const ws = new WebSocket(location.origin.replace("https:", "wss:") + "/ws/chat");
		ws.onclose = e => { ws.closed = {code: e.code, clean: e.wasClean}; };
		return ws;
	})) && true`)
	p.poll(t, "both extra sockets open", `window.h2socks.every(ws => ws.readyState === WebSocket.OPEN)`)
	if ext := eval[string](t, p, `window.h2socks[0].extensions`); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Errorf("extensions %q, want permessage-deflate", ext)
	}

	var opens []logRecord
	deadline := time.After(stepTimeout)
	for len(opens) < 3 {
		opens = opens[:0]
		console.mu.Lock()
		for _, r := range console.logs {
			if r.Msg == "websocket open" {
				opens = append(opens, r)
			}
		}
		console.mu.Unlock()
		if len(opens) >= 3 {
			break
		}
		select {
		case <-console.logc:
		case <-deadline:
			t.Fatalf("%d sockets logged open, want 3: %+v", len(opens), opens)
		}
	}
	for _, r := range opens {
		if r.Proto != "HTTP/2.0" || r.Remote != opens[0].Remote {
			t.Errorf("socket opened over %s from %s; want HTTP/2.0, all from %s (one connection)", r.Proto, r.Remote, opens[0].Remote)
		}
	}

	eval[bool](t, p, `window.h2socks.forEach(ws => ws.close(1000, "done")) || true`)
	p.poll(t, "extra sockets closed with 1000, cleanly", `window.h2socks.every(ws => ws.closed && ws.closed.code === 1000 && ws.closed.clean)`)
	// The page's own socket is still up.
	p.say(t, "still here")
	p.waitMessage(t, "h2", "still here")
	console.stop(t)
}
