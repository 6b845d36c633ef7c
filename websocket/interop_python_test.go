package websocket_test

import (
	"testing"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// TestInteropPython runs the interop suite against python3-websockets:
// testdata/interop/python_client.py against our server, and our client
// against testdata/interop/python_server.py, plain and with
// permessage-deflate.
func TestInteropPython(t *testing.T) {
	t.Parallel()
	python := wstest.Python(t)
	client := func(t *testing.T, args ...string) clientReport {
		return runPeerClient(t, nil, append([]string{python, interopScript("python_client.py")}, args...)...)
	}
	server := func(t *testing.T, options string) *peerServer {
		return startPeerServer(t, nil, python, interopScript("python_server.py"), options)
	}
	// Its server's defaults are 12-bit windows.
	testInterop(t, "python", 12, client, server)
}
