package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
	"github.com/wsdeck/wsdeck/websocket"
)

// sshHosts starts the real sshd on n loopback addresses and returns the
// SSH settings that reach them.
func sshHosts(t *testing.T, n int) (*sshtest.OpenSSH, batch.Config) {
	t.Helper()
	hostSigner, hostPEM := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := sshtest.StartOpenSSH(t, n, hostPEM, string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id_ed25519"), keyPEM, 0o600)
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.Port), hostSigner.PublicKey())), 0o600)
	pol, err := batch.ParsePolicy("127.0.0.0/8,local")
	if err != nil {
		t.Fatal(err)
	}
	return srv, batch.Config{
		Port: srv.Port, SSHDir: dir, AgentSocket: batch.None, SSHConfig: batch.None, KnownHosts: []string{known},
		ConnectTimeout: 30 * time.Second, Policy: pol,
	}
}

var (
	admin    = auth.Identity{User: auth.TokenUser, Role: users.Admin, Method: auth.MethodToken}
	operator = auth.Identity{User: "olga", Role: users.Operator, Method: "password"}
	viewerID = auth.Identity{User: "vic", Role: users.Viewer, Method: "password"}
)

// serve runs reg's /ws/shell on a test server; the query's user picks
// the identity (admin, olga, vic).
func serve(t *testing.T, reg *Registry) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := admin
		switch r.URL.Query().Get("user") {
		case "olga":
			id = operator
		case "vic":
			id = viewerID
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		r = r.WithContext(auth.WithIdentity(r.Context(), id))
		wg.Go(func() { reg.ServeWS(ctx, ws, r) })
	}))
	t.Cleanup(func() {
		cancel()
		srv.Close()
		wg.Wait()
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		if err := reg.Shutdown(sctx); err != nil {
			t.Error(err)
		}
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// client is a page, as a test drives it: it acks what it reads unless
// told not to.
type client struct {
	t    *testing.T
	ws   *websocket.Conn
	msgs chan map[string]any
	done chan struct{}

	mu     sync.Mutex
	out    map[byte]*bytes.Buffer // guarded by mu
	noAck  bool                   // guarded by mu
	unread int64                  // guarded by mu: bytes not acked while noAck
}

func dial(t *testing.T, url, user string) *client {
	t.Helper()
	ws, _, err := websocket.Dial(t.Context(), url+"?user="+user, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws, msgs: make(chan map[string]any, 1024), done: make(chan struct{}), out: map[byte]*bytes.Buffer{}}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	c.ws.CloseNow()
	<-c.done
}

func (c *client) read() {
	defer close(c.done)
	for {
		typ, p, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		if typ == websocket.MessageBinary {
			c.mu.Lock()
			if c.out[p[0]] == nil {
				c.out[p[0]] = &bytes.Buffer{}
			}
			c.out[p[0]].Write(p[1:])
			noAck := c.noAck
			if noAck {
				c.unread += int64(len(p) - 1)
			}
			c.mu.Unlock()
			if !noAck {
				c.send(map[string]any{"type": "ack", "ch": p[0], "bytes": len(p) - 1})
			}
			continue
		}
		var m map[string]any
		if json.Unmarshal(p, &m) == nil {
			select {
			case c.msgs <- m:
			default:
			}
		}
	}
}

func (c *client) send(v any) {
	b, _ := json.Marshal(v)
	c.ws.Write(context.Background(), websocket.MessageText, b)
}

func (c *client) typeIn(ch byte, s string) {
	c.ws.Write(context.Background(), websocket.MessageBinary, append([]byte{ch}, s...))
}

// expect returns the next message of type typ, failing on an error
// message (unless typ is "error") or after 30 s.
func (c *client) expect(typ string) map[string]any {
	c.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m["type"] == typ {
				return m
			}
			if m["type"] == "error" {
				c.t.Fatalf("waiting for %s: error %v", typ, m)
			}
		case <-timeout:
			c.t.Fatalf("no %s message within 30s", typ)
		}
	}
}

// open opens a terminal on host and returns its channel and session id.
func (c *client) open(host string) (byte, string) {
	c.t.Helper()
	c.send(map[string]any{"type": "open", "host": host, "cols": 80, "rows": 24})
	m := c.expect("attached")
	s := m["session"].(map[string]any)
	c.expect("opened")
	return byte(s["ch"].(float64)), s["session"].(string)
}

func (c *client) output(ch byte) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out[ch] == nil {
		return ""
	}
	return c.out[ch].String()
}

// waitFor waits for want in channel ch's output.
func (c *client) waitFor(ch byte, want string) {
	c.t.Helper()
	poll.Until(c.t, 30*time.Second, fmt.Sprintf("%q in the output of channel %d", want, ch), func() bool {
		return strings.Contains(c.output(ch), want)
	})
}

func hostnameOf(t *testing.T) (string, error) {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h, nil
}
