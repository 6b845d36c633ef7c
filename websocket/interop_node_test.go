package websocket_test

import (
	"testing"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// TestInteropNode runs the interop scenarios against Node's ws, installed
// at the module root by npm ci: testdata/interop/node_client.js against our
// server, and our client against testdata/interop/node_server.js.
func TestInteropNode(t *testing.T) {
	t.Parallel()
	node, modules := wstest.Node(t)
	env := []string{"NODE_PATH=" + modules}
	t.Run("their_client", func(t *testing.T) {
		t.Parallel()
		testTheirClient(t, "node", func(t *testing.T, args ...string) clientReport {
			return runPeerClient(t, env, append([]string{node, interopScript("node_client.js")}, args...)...)
		})
	})
	t.Run("our_client", func(t *testing.T) {
		t.Parallel()
		testOurClient(t, "node", startPeerServer(t, env, node, interopScript("node_server.js")))
	})
}
