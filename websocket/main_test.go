package websocket

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// TestMain fails the run if goroutines of this package, or started by its
// tests, are still running once every test (of every file in the package)
// has finished: a Conn must leave nothing behind when it is closed. The
// import is the tests' alone: the package itself stays standard library
// only (deps_test.go).
//
// net/http's HTTP/2 server takes extended CONNECTs (RFC 8441) only when
// GODEBUG has http2xconnect=1 as the process starts, so the test binary
// runs itself again with it set (h2_test.go's tests skip where that fails).
func TestMain(m *testing.M) {
	if g := os.Getenv("GODEBUG"); !strings.Contains(g, "http2xconnect=1") {
		env := append(os.Environ(), "GODEBUG="+strings.TrimPrefix(g+",http2xconnect=1", ","))
		syscall.Exec(os.Args[0], os.Args, env) // returns only on failure
	}
	os.Exit(wstest.Main(m, "github.com/wsdeck/wsdeck/websocket."))
}
