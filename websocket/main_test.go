package websocket

import (
	"os"
	"testing"

	"wsdeck/websocket/internal/wstest"
)

// TestMain fails the run if goroutines of this package, or started by its
// tests, are still running once every test (of every file in the package)
// has finished: a Conn must leave nothing behind when it is closed. The
// import is the tests' alone: the package itself stays standard library
// only (deps_test.go).
func TestMain(m *testing.M) {
	os.Exit(wstest.Main(m, "wsdeck/websocket."))
}
