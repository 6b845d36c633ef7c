// Package e2e drives the whole console, built from ../cmd/wsdeck, in
// headless Chromium. It is a module of its own so that the browser driver
// (chromedp) stays out of the product's go.mod.
package e2e

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/leakcheck"
)

// TestMain fails the run if a goroutine of the tests (a pipe reader, a
// monitor watcher) outlives them.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "github.com/wsdeck/wsdeck/")) }
