package cluster

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// HAProxy is an haproxy process balancing HTTP and WebSockets over wsdeck
// nodes.
type HAProxy struct {
	Addr string // 127.0.0.1:port it listens on
	Base string // http://Addr

	proc *proc
}

// Config returns an HAProxy configuration for wsdeck nodes at backends
// (host:port), listening on listen: round robin, each node checked on
// /healthz twice a second and taken out after two failures, WebSockets
// kept open for an hour of silence (timeout tunnel; wsdeck pings idle
// sockets every 30 s), and a request that a node refused at connect time,
// or answered 503 while losing its engine, retried once on another node.
// The README's "Running several nodes" shows the same settings.
func Config(listen string, backends []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 4096
  log stdout format raw local0 info

defaults
  mode http
  log global
  option httplog
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout tunnel 1h
  retries 2
  option redispatch 1
  retry-on conn-failure empty-response 503

frontend wsdeck
  bind %s
  default_backend nodes

backend nodes
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1
`, listen)
	for i, addr := range backends {
		fmt.Fprintf(&b, "  server node%d %s check\n", i+1, addr)
	}
	return b.String()
}

// StartHAProxy starts haproxy on a free port of 127.0.0.1 in front of
// backends (host:port), with Config, and waits until it serves /healthz
// from a node. Its log goes to dir (t.TempDir() if empty).
func StartHAProxy(t testing.TB, backends []string, dir string) *HAProxy {
	t.Helper()
	bin := testpeer.HAProxy(t)
	if dir == "" {
		dir = t.TempDir()
	}
	h := &HAProxy{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t))}
	h.Base = "http://" + h.Addr
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(Config(h.Addr, backends)), 0o644); err != nil {
		t.Fatal(err)
	}
	// -db: stay in the foreground; -W is not needed.
	h.proc = startProc(t, t, filepath.Join(dir, "haproxy.log"), bin, "-db", "-f", conf)
	h.proc.waitReady(t, "/healthz through it", func() error {
		resp, err := healthClient.Get(h.Base + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("haproxy /healthz: %s", resp.Status)
		}
		return nil
	})
	return h
}
