package websocket_test

import (
	"testing"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// TestInteropNode runs the interop suite against Node's ws, installed at
// the module root by npm ci: testdata/interop/node_client.js against our
// server, and our client against testdata/interop/node_server.js, plain
// and with permessage-deflate.
func TestInteropNode(t *testing.T) {
	t.Parallel()
	node, modules := wstest.Node(t)
	env := []string{"NODE_PATH=" + modules}
	client := func(t *testing.T, args ...string) clientReport {
		return runPeerClient(t, env, append([]string{node, interopScript("node_client.js")}, args...)...)
	}
	server := func(t *testing.T, options string) *peerServer {
		return startPeerServer(t, env, node, interopScript("node_server.js"), options)
	}
	testInterop(t, "node", 15, client, server)
}
