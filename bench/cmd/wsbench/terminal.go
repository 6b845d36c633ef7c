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
// wettyJS is WeTTY's build/main.js; "" looks in $WSDECK_WETTY and
// /tmp/wetty (npm install --prefix /tmp/wetty wetty@2.7.0).
func runTerminal(cfg harness.TerminalConfig, wsdeckBin, wettyJS string) error {
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
	cfg.WettyBin, cfg.WettyWhy = findWetty(wettyJS)
	return harness.RunTerminal(context.Background(), cfg)
}

// findWetty returns WeTTY's main script, or why there is none.
func findWetty(js string) (string, string) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", "no node on PATH"
	}
	var tried []string
	for _, p := range []string{js, os.Getenv("WSDECK_WETTY"), "/tmp/wetty/node_modules/wetty/build/main.js"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, ""
		}
		tried = append(tried, p)
	}
	return "", fmt.Sprintf("WeTTY is not installed (looked for %s): npm install --prefix /tmp/wetty wetty@2.7.0 (node-pty's install script must run)", strings.Join(tried, ", "))
}
