package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// TestFanout runs the chat fan-out end to end on a small load for each
// setup (wsdeck and Centrifugo, on 1 node and on 3 nodes over a cluster
// of 3 nats-servers): every subscriber must get every message exactly
// once. It times nothing. The several-node setups need nats-server: they
// skip without it, and fail in CI (WSDECK_REQUIRE_PEERS=1).
func TestFanout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsdeck and Centrifugo")
	}
	wsdeck, centrifugo := testBinaries(t)
	for _, k := range []chatKind{{"wsdeck", 1}, {"centrifugo", 1}, {"wsdeck", 3}, {"centrifugo", 3}} {
		t.Run(fmt.Sprintf("%s-%d", k.server, k.nodes), func(t *testing.T) {
			bins := Binaries{Wsdeck: wsdeck, Centrifugo: centrifugo}
			if k.nodes > 1 {
				var err error
				bins.NATSServer, err = FindNATSServer()
				testpeer.Need(t, "nats-server", "GOBIN=DIR go install github.com/nats-io/nats-server/v2@VERSION (the one wsdeck's go.mod pins), then "+
					NATSServerEnv+"=DIR/nats-server, or DIR on PATH", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			const subs, warmup = 20, 5
			l := FanoutLoad{Subs: subs, Rate: 200}
			fc := FanoutConfig{Pubs: 2, Duration: 250 * time.Millisecond, Warmup: warmup, Setup: time.Minute}
			s, err := startChat(ctx, k, bins, t.TempDir(), subs+fc.Pubs)
			if err != nil {
				t.Fatal(err)
			}
			defer s.stop()
			if len(s.addrs) != k.nodes {
				t.Fatalf("%d nodes listening, want %d", len(s.addrs), k.nodes)
			}
			res, err := runFanoutLoad(ctx, fc, s, l)
			if err != nil {
				t.Fatal(err)
			}
			const msgs = 50 // 200 msg/s for 250 ms
			if res.Expected != msgs*subs || res.Deliveries != res.Expected {
				t.Errorf("%d deliveries of the measured messages, want %d×%d", res.Deliveries, msgs, subs)
			}
			if res.MinPerSub != warmup+msgs || res.MaxPerSub != warmup+msgs {
				t.Errorf("a subscriber got from %d to %d messages, want each %d exactly", res.MinPerSub, res.MaxPerSub, warmup+msgs)
			}
			if res.Latency.Count() != res.Deliveries {
				t.Errorf("%d latencies for %d deliveries", res.Latency.Count(), res.Deliveries)
			}
			cpu, err := s.cpu()
			if err != nil || cpu <= 0 {
				t.Errorf("the servers' CPU time: %v, %v", cpu, err)
			}
			// On NATS, every message published passes through the
			// nats-servers at least once.
			if k.nodes > 1 && (s.engines != k.nodes || res.engineMsgs < int64(res.messages)) {
				t.Errorf("%d nats-servers took in %d messages in the window, want %d servers and at least the %d published",
					s.engines, res.engineMsgs, k.nodes, res.messages)
			}
			if k.nodes == 1 && (s.engines != 0 || res.engineMsgs != 0 || res.engineCPU != 0) {
				t.Errorf("one node has %d nats-servers measured (%d messages, %v)", s.engines, res.engineMsgs, res.engineCPU)
			}
		})
	}
}

// testBinaries builds wsdeck (from the repository) and Centrifugo (the
// version bench/go.mod pins) into a directory of t's, side by side.
func testBinaries(t *testing.T) (wsdeck, centrifugo string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/wsdeck/wsdeck").Output()
	if err != nil {
		t.Fatalf("finding the wsdeck module: %v", err)
	}
	dir := t.TempDir()
	wsdeck, centrifugo = filepath.Join(dir, "wsdeck"), filepath.Join(dir, "centrifugo")
	var wg sync.WaitGroup
	var errW, errC error
	wg.Go(func() { errW = BuildWsdeck(strings.TrimSpace(string(out)), wsdeck) })
	wg.Go(func() { errC = BuildCentrifugo(centrifugo) })
	wg.Wait()
	if err := errors.Join(errW, errC); err != nil {
		t.Fatal(err)
	}
	return wsdeck, centrifugo
}
