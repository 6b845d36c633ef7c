package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// h2PeerTimeout bounds a run of a Python peer.
const h2PeerTimeout = 30 * time.Second

// h2Python returns a python3 that imports every module named (Debian's
// /usr/bin/python3 first, as wstest.Python does), or skips the test (fails
// it under WSDECK_REQUIRE_PEERS=1).
func h2Python(t *testing.T, pkgs string, modules ...string) string {
	t.Helper()
	var errs []error
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out, err := exec.Command(path, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput()
		if err != nil {
			errs = append(errs, errors.New(path+": "+strings.TrimSpace(string(out))))
			continue
		}
		return path
	}
	wstest.Need(t, pkgs, "apt install "+pkgs, errors.Join(errs...))
	return ""
}

// h2ClientReport is what python_h2_client.py prints.
type h2ClientReport struct {
	ALPN                  string `json:"alpn"`
	EnableConnectProtocol int    `json:"enable_connect_protocol"`
	Streams               []struct {
		Stream          int    `json:"stream"`
		Status          string `json:"status"`
		Extensions      string `json:"extensions"`
		TextEchoed      bool   `json:"text_echoed"`
		BinaryEchoed    bool   `json:"binary_echoed"`
		FragmentsEchoed bool   `json:"fragments_echoed"`
		Pong            string `json:"pong"`
		CloseCode       int    `json:"close_code"`
		StreamEnded     bool   `json:"stream_ended"`
	} `json:"streams"`
}

// TestInteropH2PythonClient: python3-h2 with python3-wsproto, an RFC 8441
// client, opens two WebSockets (one compressed) on one HTTP/2 connection to
// our server, and each echoes text, binary and fragmented messages,
// answers a ping and closes with the close handshake.
func TestInteropH2PythonClient(t *testing.T) {
	needXConnect(t)
	t.Parallel()
	python := h2Python(t, "python3-h2 python3-wsproto", "h2", "wsproto")
	type seen struct {
		proto, remote string
		deflate       bool
		err           error
	}
	var mu sync.Mutex
	var sockets []seen
	s := newH2Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}}})
		if err != nil {
			return
		}
		var rerr error
		for {
			typ, p, err := c.Read(context.Background())
			if err == nil {
				err = c.Write(context.Background(), typ, p)
			}
			if err != nil {
				rerr = err
				break
			}
		}
		mu.Lock()
		sockets = append(sockets, seen{r.Proto, r.RemoteAddr, c.deflate != nil, rerr})
		mu.Unlock()
	}), true)

	ctx, cancel := context.WithTimeout(t.Context(), h2PeerTimeout)
	defer cancel()
	host, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	cmd := exec.CommandContext(ctx, python, interopScriptPath("python_h2_client.py"), host, port, "/echo")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python_h2_client.py: %v\n%s", err, stderr.Bytes())
	}
	var rep h2ClientReport
	if err := json.Unmarshal(bytes.TrimSpace(out), &rep); err != nil {
		t.Fatalf("bad report %q: %v", out, err)
	}
	if rep.ALPN != "h2" || rep.EnableConnectProtocol != 1 {
		t.Fatalf("ALPN %q, SETTINGS_ENABLE_CONNECT_PROTOCOL %d; want h2 and 1", rep.ALPN, rep.EnableConnectProtocol)
	}
	if len(rep.Streams) != 2 {
		t.Fatalf("%d streams reported, want 2: %s", len(rep.Streams), out)
	}
	for i, st := range rep.Streams {
		compressed := i == 1
		if st.Status != "200" || !st.TextEchoed || !st.BinaryEchoed || !st.FragmentsEchoed ||
			st.Pong != "h2-ping" || st.CloseCode != 1000 || !st.StreamEnded {
			t.Errorf("stream %d: %+v", st.Stream, st)
		}
		if got := strings.HasPrefix(st.Extensions, "permessage-deflate"); got != compressed {
			t.Errorf("stream %d: extensions %q, compressed %v", st.Stream, st.Extensions, compressed)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sockets) != 2 {
		t.Fatalf("the server served %d sockets, want 2", len(sockets))
	}
	for _, so := range sockets {
		if so.proto != "HTTP/2.0" || so.remote != sockets[0].remote || CloseStatus(so.err) != StatusNormalClosure {
			t.Errorf("socket %+v: want HTTP/2.0, one remote address, close 1000", so)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("the sockets came on %d connections, want 1", n)
	}
}

func interopScriptPath(name string) string { return filepath.Join("testdata", "interop", name) }

// TestInteropH2Hypercorn: our client against python3-hypercorn, which
// serves WebSockets over HTTP/2: three sockets, one compressed, share one
// connection (the server names the same client address for each), echo
// text, binary and fragmented messages, get pongs and close with the close
// handshake.
func TestInteropH2Hypercorn(t *testing.T) {
	t.Parallel()
	python := h2Python(t, "python3-hypercorn", "hypercorn")
	certFile, keyFile, pool := wstest.SelfSigned(t)
	cfg := &tls.Config{RootCAs: pool}

	ctx, cancel := context.WithTimeout(t.Context(), h2PeerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, interopScriptPath("python_h2_server.py"), certFile, keyFile)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("hypercorn stderr:\n%s", stderr.Bytes())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "PORT ")
	if err != nil || !ok {
		t.Fatalf("hypercorn printed %q (%v), want PORT n", line, err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	rt := h2RoundTripper(t, addr, cfg)

	var clients []string
	for i, compress := range []bool{false, true, false} {
		opts := &DialOptions{HTTP2: rt, ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: compress}}}
		c, resp, err := Dial(ctx, "wss://"+addr+"/echo", opts)
		if err != nil {
			t.Fatalf("socket %d: Dial: %v", i, err)
		}
		defer c.CloseNow()
		if resp.ProtoMajor != 2 {
			t.Errorf("socket %d: response over %s, want HTTP/2", i, resp.Proto)
		}
		if got := c.deflate != nil; got != compress {
			t.Errorf("socket %d: permessage-deflate agreed %v, want %v", i, got, compress)
		}
		_, hello, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("socket %d: reading the greeting: %v", i, err)
		}
		var g struct {
			HTTPVersion string `json:"http_version"`
			Client      []any  `json:"client"`
		}
		if err := json.Unmarshal(hello, &g); err != nil || g.HTTPVersion != "2" {
			t.Fatalf("socket %d: greeting %s (%v), want http_version 2", i, hello, err)
		}
		b, _ := json.Marshal(g.Client)
		clients = append(clients, string(b))

		echoOnce(t, c, MessageText, []byte(strings.Repeat("hypercorn over HTTP/2 ", 50)))
		echoOnce(t, c, MessageBinary, bytes.Repeat([]byte{0, 1, 2, 3, 254, 255}, 20000))
		w, err := c.Writer(ctx, MessageText)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range []string{"frag", "ment", "ed"} {
			w.Write([]byte(part))
			if f, ok := w.(interface{ Flush() error }); ok {
				if err := f.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// A reader for the echo, then for the pong and the close frame.
		read := make(chan error, 1)
		go func() {
			_, p, err := c.Read(ctx)
			if err == nil && string(p) != "fragmented" {
				err = errors.New("fragmented echo " + string(p))
			}
			if err == nil {
				_, _, err = c.Read(ctx)
			}
			read <- err
		}()
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("socket %d: Ping: %v", i, err)
		}
		if err := c.Close(StatusNormalClosure, "bye"); err != nil {
			t.Errorf("socket %d: Close: %v", i, err)
		}
		if err := <-read; CloseStatus(err) != StatusNormalClosure && !errors.Is(err, net.ErrClosed) {
			t.Errorf("socket %d: reading: %v", i, err)
		}
	}
	for _, cl := range clients[1:] {
		if cl != clients[0] {
			t.Errorf("hypercorn saw the sockets from %v, want one client address (one connection)", clients)
		}
	}
}
