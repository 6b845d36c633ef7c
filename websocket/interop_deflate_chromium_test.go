// Chromium is stopped by killing its process group, which needs Unix.

//go:build unix

package websocket_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// TestInteropDeflateChromium runs the deflate echo with headless Chromium
// as the client of our server, which offers "permessage-deflate;
// client_max_window_bits" and cannot be configured: the configurations are
// those that change only our side. For each, a browser loads
// testdata/interop/chromium_deflate.html, which runs the echo and POSTs its
// report to /deflate/result.
func TestInteropDeflateChromium(t *testing.T) {
	t.Parallel()
	chromium := wstest.Chromium(t)
	var configs []deflateConfig
	for _, cfg := range deflateConfigs {
		if cfg.theirs == nil {
			configs = append(configs, cfg)
		}
	}
	s := newDeflateServer(t, configs)

	s.mux.HandleFunc("GET /deflate/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, interopScript("chromium_deflate.html"))
	})
	s.mux.HandleFunc("GET /deflate/config.json", func(w http.ResponseWriter, r *http.Request) {
		cfg, ok := s.configs[r.FormValue("config")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(struct {
			Name  string        `json:"name"`
			Cases []deflateCase `json:"cases"`
		}{cfg.name, deflateCases(cfg.big)})
	})
	reports := make(chan deflateReport, 1)
	s.mux.HandleFunc("POST /deflate/result", func(w http.ResponseWriter, r *http.Request) {
		var rep deflateReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case reports <- rep:
		default:
		}
	})

	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			browser := startChromium(t, chromium, s.url+"/deflate/?config="+cfg.name)
			timer := time.NewTimer(interopTimeout)
			defer timer.Stop()
			var rep deflateReport
			select {
			case rep = <-reports:
			case <-browser.exited:
				t.Fatalf("chromium exited before reporting: %v", browser.err)
			case <-timer.C:
				t.Fatalf("no report from chromium within %v", interopTimeout)
			}
			browser.stop()
			s.checkTheirClient(t, "chromium", false, cfg, rep)
		})
	}
}
