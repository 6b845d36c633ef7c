package websocket_test

import (
	"testing"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// TestInteropPython runs the interop scenarios against python3-websockets:
// testdata/interop/python_client.py against our server, and our client
// against testdata/interop/python_server.py.
func TestInteropPython(t *testing.T) {
	t.Parallel()
	python := wstest.Python(t)
	t.Run("their_client", func(t *testing.T) {
		t.Parallel()
		testTheirClient(t, "python", func(t *testing.T, args ...string) clientReport {
			return runPeerClient(t, nil, append([]string{python, interopScript("python_client.py")}, args...)...)
		})
	})
	t.Run("our_client", func(t *testing.T) {
		t.Parallel()
		testOurClient(t, "python", startPeerServer(t, nil, python, interopScript("python_server.py")))
	})
}
