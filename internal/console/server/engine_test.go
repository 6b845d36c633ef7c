package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/jobs"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/websocket"
)

// metricValue returns the value of the unlabelled metric name, or -1.
func metricValue(t *testing.T, ts *testServer, name string) float64 {
	t.Helper()
	families, err := ts.Metrics().Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

// pollHealthz polls /healthz until it answers status, and returns the body.
func pollHealthz(t *testing.T, ts *testServer, status int) string {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		resp, body := get(t, nil, ts.base+"/healthz", nil)
		if resp.StatusCode == status {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %s %q, want %d", resp.Status, body, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// /healthz and /metrics report the engine: a console on an external NATS
// server says 503 while the server is gone, and ok again once it is back.
func TestHealthzReportsTheEngine(t *testing.T) {
	t.Parallel()
	nats := enginetest.Start(t, t.TempDir())
	ts := start(t, Config{Engine: engine.Config{
		URLs: []string{nats.URL()}, ConnectTimeout: time.Second, ReconnectWait: 50 * time.Millisecond,
	}})
	if body := pollHealthz(t, ts, http.StatusOK); body != "ok\n" {
		t.Errorf("/healthz: %q, want ok", body)
	}
	if v := metricValue(t, ts, "wsdeck_engine_connected"); v != 1 {
		t.Errorf("wsdeck_engine_connected = %v, want 1", v)
	}
	if v := metricValue(t, ts, "wsdeck_engine_messages_sent_total"); v <= 0 {
		t.Errorf("wsdeck_engine_messages_sent_total = %v, want > 0", v)
	}

	nats.Stop()
	body := pollHealthz(t, ts, http.StatusServiceUnavailable)
	if body != "engine: not connected to NATS\n" {
		t.Errorf("/healthz with the engine gone: %q, want one line saying why", body)
	}
	if strings.Contains(body, "127.0.0.1") {
		t.Errorf("/healthz names the engine's address to all: %q", body)
	}
	if v := metricValue(t, ts, "wsdeck_engine_connected"); v != 0 {
		t.Errorf("wsdeck_engine_connected with the engine gone = %v, want 0", v)
	}

	nats.Restart(t)
	pollHealthz(t, ts, http.StatusOK)
	if v := metricValue(t, ts, "wsdeck_engine_reconnects_total"); v < 1 {
		t.Errorf("wsdeck_engine_reconnects_total = %v, want at least 1", v)
	}
}

// Two consoles on one engine are two nodes of one console: each accepts
// the other's session cookie, and a logout on one closes the session's
// sockets on the other at once (not at its next periodic check).
func TestSessionAcrossNodes(t *testing.T) {
	t.Parallel()
	a := start(t, Config{Engine: engine.Config{StateDir: t.TempDir(), ListenAddr: "127.0.0.1:0"}})
	b := start(t, Config{Engine: engine.Config{URLs: []string{a.engine.ClientURL()}}})
	c := a.login(t)
	// The cookie's name says the port; a load balancer in front of both
	// would give them one.
	onB := &http.Cookie{Name: b.guard.CookieName(), Value: c.Value}
	if resp, _ := get(t, nil, b.base+"/", cookieHeader(onB)); resp.StatusCode != http.StatusOK {
		t.Fatalf("node b, node a's session: %s, want 200", resp.Status)
	}
	ws, _, err := b.dial(t, "/ws/chat", cookieHeader(onB))
	if err != nil {
		t.Fatal(err)
	}
	readMsg(t, ws)

	if resp := a.logout(t, c, a.base); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on a: %s", resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // b checks by itself every 30 s
	defer cancel()
	var err2 error
	for err2 == nil {
		_, _, err2 = ws.Read(ctx)
	}
	wantSessionEnded(t, err2)
	if resp, _ := get(t, nil, b.base+"/", cookieHeader(onB)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("node b after the logout on a: %s, want 401", resp.Status)
	}
}

// TestExecRefusedWithoutEngine: an Exec page that connects while the
// engine is unreachable gets an engine error, then a close with 1001
// (going away: the page comes back later), and once the engine is back
// its hello. Before, the error was queued but never written: the page saw
// the connection drop without a word (CI's e2e NATSServerKilled).
func TestExecRefusedWithoutEngine(t *testing.T) {
	t.Parallel()
	nats := enginetest.Start(t, t.TempDir())
	ts := start(t, Config{
		Engine: engine.Config{URLs: []string{nats.URL()}, ConnectTimeout: time.Second, ReconnectWait: 50 * time.Millisecond},
		Exec:   &jobs.Options{},
	})
	nats.Stop()
	pollHealthz(t, ts, http.StatusServiceUnavailable)
	c := ts.mustDial(t, "/ws/exec")
	if m := readMsg(t, c); m["type"] != "error" || m["code"] != jobs.CodeEngine {
		t.Fatalf("first message with the engine gone: %v, want an engine error", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("then %v, want a close with 1001", err)
	}
	nats.Restart(t)
	pollHealthz(t, ts, http.StatusOK)
	if m := readMsg(t, ts.mustDial(t, "/ws/exec")); m["type"] != "hello" {
		t.Errorf("first message with the engine back: %v, want the hello", m)
	}
}
