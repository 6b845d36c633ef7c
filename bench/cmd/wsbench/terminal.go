package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wsdeck/wsdeck/bench/internal/harness"
)

// runTerminal runs -measure terminal: keystroke latency and output
// throughput of wsdeck's Shell beside WeTTY's, to a loopback OpenSSH.
// wettyJS is WeTTY's build/main.js; "" means $WSDECK_WETTY, else the
// WeTTY bench/wetty pins, installed into wettyCache (see installWetty).
func runTerminal(cfg harness.TerminalConfig, wsdeckBin, wettyJS, wettyCache string) error {
	dir, err := os.MkdirTemp("", "wsbench-terminal-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if wsdeckBin == "" {
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/wsdeck/wsdeck").Output()
		if err != nil {
			return fmt.Errorf("finding the wsdeck module (run from bench/): %w", err)
		}
		wsdeckBin = filepath.Join(dir, "wsdeck")
		if err := harness.BuildWsdeck(strings.TrimSpace(string(root)), wsdeckBin); err != nil {
			return err
		}
	}
	cfg.WsdeckBin = wsdeckBin
	cfg.WettyBin, cfg.WettyWhy = findWetty(wettyJS, wettyCache)
	if cfg.WettyBin != "" && wettyJS == "" && os.Getenv("WSDECK_WETTY") == "" {
		cfg.WettyNote = "WeTTY as bench/wetty/package-lock.json pins it (2.7.0), installed by the bench (`npm ci`, then `npm rebuild node-pty`) into " + filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(cfg.WettyBin)))) + "."
	}
	return harness.RunTerminal(context.Background(), cfg)
}

// findWetty returns WeTTY's main script, or why there is none: js, else
// $WSDECK_WETTY, else the pinned install (made if need be).
func findWetty(js, cache string) (string, string) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", "no node on PATH (Debian: apt-get install nodejs npm)"
	}
	for _, p := range []string{js, os.Getenv("WSDECK_WETTY")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Sprintf("WeTTY's main script: %v", err)
		}
		return p, ""
	}
	p, err := installWetty(cache)
	if err != nil {
		return "", "installing WeTTY: " + err.Error()
	}
	return p, ""
}
