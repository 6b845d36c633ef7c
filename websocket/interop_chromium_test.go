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

// TestInteropChromium runs the interop suite with headless Chromium as the
// client of our server, which serves testdata/interop/chromium.html at
// /?mode=MODE: its script runs the scenarios of a mode and POSTs their
// reports to /result. A browser sends no fragments, so in the fragmented
// echo cases only our server fragments. plain runs every scenario;
// deflate runs the echo under each configuration that changes only our
// side, as Chromium, which offers "permessage-deflate;
// client_max_window_bits", cannot be configured.
func TestInteropChromium(t *testing.T) {
	t.Parallel()
	chromium := wstest.Chromium(t)
	var configs []deflateConfig
	for _, cfg := range deflateConfigs {
		if cfg.theirs == nil {
			configs = append(configs, cfg)
		}
	}
	s := newOurServer(t, configs)

	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, interopScript("chromium.html"))
	})
	s.mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		type closeFrame struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		}
		mode := r.FormValue("mode")
		scenarios, cases := theirScenarios, s.cases
		if mode != "plain" {
			cfg, ok := s.configs[mode]
			if !ok {
				http.NotFound(w, r)
				return
			}
			scenarios, cases = []string{"echo"}, deflateCases(cfg.big)
		}
		json.NewEncoder(w).Encode(struct {
			Scenarios []string   `json:"scenarios"`
			Cases     []echoCase `json:"cases"`
			Close     closeFrame `json:"close"`
		}{scenarios, cases, closeFrame{int(codeTheirClient), theirReason("chromium", "client")}})
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
	// run loads the page for mode and returns its reports, by scenario.
	run := func(t *testing.T, mode string) map[string]clientReport {
		report := browseForReport(t, chromium, s.url+"/?mode="+mode, reports)
		if rep, ok := report["config"]; ok {
			t.Fatalf("chromium: fetching the config: %s", rep.Error)
		}
		return report
	}

	t.Run("plain", func(t *testing.T) {
		report := run(t, "plain")
		for _, scenario := range theirScenarios {
			t.Run(scenario, func(t *testing.T) {
				rep, ok := report[scenario]
				if !ok {
					t.Fatalf("chromium reported no %s", scenario)
				}
				s.checkTheirClient(t, "chromium", scenario, rep)
			})
		}
	})
	t.Run("deflate", func(t *testing.T) {
		for _, cfg := range configs {
			t.Run(cfg.name, func(t *testing.T) {
				rep, ok := run(t, cfg.name)["echo"]
				if !ok {
					t.Fatal("chromium reported no echo")
				}
				s.checkTheirDeflate(t, "chromium", false, cfg, rep)
			})
		}
	})
}

// browseForReport starts Chromium on url with the extra flags, waits for
// the report that its page sends to reports, and stops it.
func browseForReport[T any](t *testing.T, chromium, url string, reports <-chan T, extra ...string) T {
	t.Helper()
	browser := startChromium(t, chromium, url, extra...)
	timer := time.NewTimer(interopTimeout)
	defer timer.Stop()
	var rep T
	select {
	case rep = <-reports:
	case <-browser.exited:
		t.Fatalf("chromium exited before reporting: %v", browser.err)
	case <-timer.C:
		t.Fatalf("no report from chromium within %v", interopTimeout)
	}
	browser.stop()
	return rep
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
