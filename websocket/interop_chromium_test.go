// Chromium is stopped by killing its process group, which needs Unix.

//go:build unix

package websocket_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// TestInteropChromium runs the interop scenarios with headless Chromium as
// the client of our server: the server serves testdata/interop/chromium.html,
// whose script runs the scenarios and POSTs their reports to /result. A
// browser sends no fragments, so in the fragmented echo cases only our
// server fragments.
func TestInteropChromium(t *testing.T) {
	t.Parallel()
	chromium := wstest.Chromium(t)
	s := newOurServer(t, echoCases())

	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, interopScript("chromium.html"))
	})
	s.mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		type closeFrame struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		}
		json.NewEncoder(w).Encode(struct {
			Cases []echoCase `json:"cases"`
			Close closeFrame `json:"close"`
		}{s.cases, closeFrame{int(codeTheirClient), theirReason("chromium", "client")}})
	})
	reports := make(chan map[string]clientReport, 1)
	s.mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		var report map[string]clientReport
		if err := json.NewDecoder(r.Body).Decode(&report); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case reports <- report:
		default:
		}
	})

	browser := startChromium(t, chromium, s.url+"/")
	timer := time.NewTimer(interopTimeout)
	defer timer.Stop()
	var report map[string]clientReport
	select {
	case report = <-reports:
	case <-browser.exited:
		t.Fatalf("chromium exited before reporting: %v", browser.err)
	case <-timer.C:
		t.Fatalf("no report from chromium within %v", interopTimeout)
	}
	browser.stop()

	if rep, ok := report["config"]; ok {
		t.Fatalf("chromium: fetching the config: %s", rep.Error)
	}
	for _, scenario := range theirScenarios {
		t.Run(scenario, func(t *testing.T) {
			rep, ok := report[scenario]
			if !ok {
				t.Fatalf("chromium reported no %s", scenario)
			}
			checkTheirClient(t, s, "chromium", scenario, rep)
		})
	}
}

// browser is a running Chromium.
type browser struct {
	cancel context.CancelFunc
	exited chan struct{} // closed when it exited
	err    error         // how it exited; set before exited is closed
}

// startChromium starts headless Chromium on url, with a new profile and
// the extra flags. It is stopped at cleanup, if not before; its output is
// logged if t failed.
func startChromium(t *testing.T, chromium, url string, extra ...string) *browser {
	t.Helper()
	profile := t.TempDir() // removed after the cleanup below, once Chromium is gone
	logPath := filepath.Join(t.TempDir(), "chromium.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()

	ctx, cancel := context.WithTimeout(t.Context(), interopTimeout)
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-quic", "--user-data-dir=" + profile}, extra...)
	cmd := exec.CommandContext(ctx, chromium, append(args, url)...)
	cmd.Stdout = log
	cmd.Stderr = log
	// Kill Chromium's renderers and helpers with it: left alone, they
	// outlive it by a second or so, writing to the profile.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting chromium: %v", err)
	}
	b := &browser{cancel: cancel, exited: make(chan struct{})}
	go func() {
		b.err = cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("chromium output:\n%s", out)
		}
	})
	return b
}

// stop kills Chromium and waits for it to exit.
func (b *browser) stop() {
	b.cancel()
	<-b.exited
}
