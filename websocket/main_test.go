package websocket

import (
	"os"
	"testing"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
	// net/http's HTTP/2 server takes extended CONNECTs (RFC 8441) only
	// with GODEBUG=http2xconnect=1, which this sets as a user's program
	// would (h2_test.go's tests skip where the environment says =0).
	_ "github.com/wsdeck/wsdeck/websocket/xconnect"
)

// TestMain fails the run if goroutines of this package, or started by its
// tests, are still running once every test (of every file in the package)
// has finished: a Conn must leave nothing behind when it is closed. The
// import is the tests' alone: the package itself stays standard library
// only (deps_test.go).
func TestMain(m *testing.M) {
	os.Exit(wstest.Main(m, "github.com/wsdeck/wsdeck/websocket."))
}
