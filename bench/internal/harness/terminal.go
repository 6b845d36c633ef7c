package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// TerminalResults is the report of -measure terminal, which every full
// run copies into RESULTS.md.
const TerminalResults = "TERMINAL-RESULTS.md"

// TerminalConfig configures the terminal measurement: keystroke-to-echo
// latency and output throughput through a web terminal to a loopback
// OpenSSH, wsdeck's /ws/shell beside WeTTY's socket.io.
type TerminalConfig struct {
	Keystrokes int   // keystrokes timed per round
	CatBytes   int64 // size of the file cat prints
	Rounds     int
	WsdeckBin  string // wsdeck binary (built by the caller)
	WettyBin   string // WeTTY's bin/wetty.js; "" when not installed (WettyWhy says why)
	WettyWhy   string
	WettyNote  string // how WeTTY was installed, for the report
	Out        string // report file (markdown)
	Args       []string

	loadAvg string // /proc/loadavg as the run starts
}

// termResult is one server's figures of one round.
type termResult struct {
	server      string
	lat         []time.Duration // keystroke to echo
	catBytes    int64
	catTime     time.Duration
	rssBefore   int64 // bytes
	rssMax      int64 // during cat
	rssAfter    int64
	err         error
	serverProcs string // what RSS counts
}

// termClient is one web terminal's client side: type, and read output.
type termClient interface {
	send(ctx context.Context, p string) error
	// output returns the next output chunk (and acknowledges it, for the
	// servers with flow control).
	output(ctx context.Context) ([]byte, error)
	close()
}

// RunTerminal runs the terminal measurement and writes its report.
func RunTerminal(ctx context.Context, cfg TerminalConfig) error {
	cfg.loadAvg = describeMachine().loadAvg
	dir, err := os.MkdirTemp("", "wsbench-terminal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sshd, err := startSSHD(ctx, dir)
	if err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	defer sshd.stop()
	big := filepath.Join(dir, "big.txt")
	if err := writeBig(big, cfg.CatBytes); err != nil {
		return err
	}
	var results []termResult
	for round := range cfg.Rounds {
		for _, name := range []string{"wsdeck", "wetty"} {
			if name == "wetty" && cfg.WettyBin == "" {
				continue
			}
			fmt.Fprintf(os.Stderr, "terminal: round %d, %s\n", round+1, name)
			var r termResult
			if name == "wsdeck" {
				r = runWsdeckTerminal(ctx, cfg, sshd, dir, big)
			} else {
				r = runWettyTerminal(ctx, cfg, sshd, dir, big)
			}
			if r.err != nil {
				fmt.Fprintf(os.Stderr, "terminal: %s: %v\n", name, r.err)
			}
			results = append(results, r)
		}
	}
	return writeTerminalReport(cfg, results)
}

// sshd is a loopback OpenSSH server that accepts the bench's key.
type sshd struct {
	port       int
	key        string // the client's private key file
	knownHosts string
	user       string
	cmd        *exec.Cmd
}

func startSSHD(ctx context.Context, dir string) (*sshd, error) {
	bin, err := exec.LookPath("sshd")
	if err != nil {
		bin = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no sshd (apt-get install openssh-server): %w", err)
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	hostKey, clientKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "client_ed25519")
	for _, k := range []string{hostKey, clientKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return nil, err
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sshd_config")
	text := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
PrintLastLog no
`, port, hostKey, auth)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, fmt.Appendf(nil, "[127.0.0.1]:%d %s", port, hostPub), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-D", "-e", "-f", conf)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &sshd{port: port, key: clientKey, knownHosts: kh, user: u.Username, cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("sshd not listening on %d: %w", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sshd) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// writeBig writes n bytes of 80-column text lines to path.
func writeBig(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	line := []byte(strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 3)[:79] + "\n")
	for written := int64(0); written < n; written += int64(len(line)) {
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// measureTerminal drives c: a raw dd for the keystrokes (one byte a
// read and a write), then cat of big.
// pid is the server process whose RSS is sampled (its children too).
func measureTerminal(ctx context.Context, cfg TerminalConfig, c termClient, pid int, big string) termResult {
	var r termResult
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// The shell's first prompt before anything is typed: what is typed
	// before the shell reads can be lost (WeTTY's ssh, once).
	var seen bytes.Buffer
	if err := readUntilPrompt(ctx, c, &seen); err != nil {
		r.err = fmt.Errorf("no first prompt: %w (saw %q)", err, lastBytes(seen.Bytes()))
		return r
	}
	// dd reads the marker and the keystrokes, echoing each as it comes,
	// and ends by itself: the prompt after it (one the line's echo cannot
	// be mistaken for) needs no Ctrl-C, which could race with the next
	// line (cat once read it before it died).
	if err := c.send(ctx, fmt.Sprintf("stty -icanon -echo min 1; dd bs=1 count=%d status=none; stty sane; echo PRO''MPT\r", 1+cfg.Keystrokes)); err != nil {
		r.err = err
		return r
	}
	// The shell's echo of the line comes first; then dd waits. Type one
	// marker (not in a prompt) until it comes back: then dd is reading.
	seen.Reset()
	if err := readUntil(ctx, c, &seen, "PRO''MPT\r\n"); err != nil {
		r.err = fmt.Errorf("the command line not echoed: %w (saw %q)", err, lastBytes(seen.Bytes()))
		return r
	}
	seen.Reset()
	if err := c.send(ctx, "%"); err != nil {
		r.err = err
		return r
	}
	if err := readUntil(ctx, c, &seen, "%"); err != nil {
		r.err = fmt.Errorf("dd never echoed: %w (saw %q)", err, lastBytes(seen.Bytes()))
		return r
	}
	if termDebug {
		fmt.Fprintf(os.Stderr, "terminal: dd reads\n")
	}
	for i := range cfg.Keystrokes {
		k := string(rune('a' + i%26))
		seen.Reset()
		t0 := time.Now()
		if err := c.send(ctx, k); err != nil {
			r.err = err
			return r
		}
		if err := readUntil(ctx, c, &seen, k); err != nil {
			r.err = fmt.Errorf("keystroke %d: %w (saw %q)", i, err, lastBytes(seen.Bytes()))
			return r
		}
		r.lat = append(r.lat, time.Since(t0))
	}
	// dd has ended with the last keystroke (the prompt may have come
	// with its echo, in seen); then the throughput: cat of big, to its end
	// mark.
	if err := readUntil(ctx, c, &seen, "PROMPT"); err != nil {
		r.err = fmt.Errorf("no prompt after dd: %w (saw %q)", err, lastBytes(seen.Bytes()))
		return r
	}
	if err := c.send(ctx, "echo START''MARK; cat "+big+"; echo END''MARK\r"); err != nil {
		r.err = err
		return r
	}
	seen.Reset()
	if err := readUntil(ctx, c, &seen, "STARTMARK"); err != nil {
		r.err = err
		return r
	}
	r.rssBefore = rssTree(pid)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.rssMax = max(r.rssMax, rssTree(pid))
			}
		}
	})
	t0 := time.Now()
	n, err := countUntil(ctx, c, "ENDMARK")
	r.catTime = time.Since(t0)
	close(stop)
	wg.Wait()
	r.catBytes = n
	r.rssAfter = rssTree(pid)
	if err != nil {
		r.err = fmt.Errorf("cat: %w", err)
	}
	c.send(ctx, "exit\r")
	return r
}

func lastBytes(b []byte) []byte {
	if len(b) > 200 {
		return b[len(b)-200:]
	}
	return b
}

var termDebug = os.Getenv("WSBENCH_DEBUG") != ""

// readUntil reads output into seen until it holds mark.
func readUntil(ctx context.Context, c termClient, seen *bytes.Buffer, mark string) error {
	for !bytes.Contains(seen.Bytes(), []byte(mark)) {
		p, err := c.output(ctx)
		if err != nil {
			return err
		}
		if termDebug {
			fmt.Fprintf(os.Stderr, "terminal: got %q\n", lastBytes(p))
		}
		seen.Write(p)
	}
	return nil
}

// readUntilPrompt reads output into seen until it ends as a shell's
// prompt does ("$ ", "# ", "% " or "> ").
func readUntilPrompt(ctx context.Context, c termClient, seen *bytes.Buffer) error {
	for {
		for _, p := range []string{"$ ", "# ", "% ", "> "} {
			if bytes.HasSuffix(seen.Bytes(), []byte(p)) {
				return nil
			}
		}
		p, err := c.output(ctx)
		if err != nil {
			return err
		}
		if termDebug {
			fmt.Fprintf(os.Stderr, "terminal: got %q\n", lastBytes(p))
		}
		seen.Write(p)
	}
}

// countUntil reads output until mark, and returns how many bytes came.
func countUntil(ctx context.Context, c termClient, mark string) (int64, error) {
	var n int64
	var last []byte
	for {
		p, err := c.output(ctx)
		if err != nil {
			return n, err
		}
		n += int64(len(p))
		last = append(last, p...)
		if bytes.Contains(last, []byte(mark)) {
			return n, nil
		}
		if len(last) > len(mark) {
			last = slices.Clone(last[len(last)-len(mark):])
		}
	}
}

// rssTree returns the resident memory of pid and its descendants, bytes.
func rssTree(pid int) int64 {
	var total int64
	for _, p := range append([]int{pid}, descendants(pid)...) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}

func descendants(pid int) []int {
	var out []int
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	for f := range strings.FieldsSeq(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
			out = append(out, descendants(c)...)
		}
	}
	return out
}

// --- wsdeck ---

func runWsdeckTerminal(ctx context.Context, cfg TerminalConfig, s *sshd, dir, big string) termResult {
	const token = "wsbench-terminal-token-0123456789"
	state, err := os.MkdirTemp(dir, "state-")
	if err != nil {
		return termResult{server: "wsdeck", err: err}
	}
	cmd := exec.Command(cfg.WsdeckBin, "serve", "--addr", "127.0.0.1:0", "--token", token, "--print-url",
		"--state-dir", state, "--allow-hosts", "127.0.0.1", "--port", strconv.Itoa(s.port), "--user", s.user,
		"--identity", s.key, "--known-hosts", s.knownHosts, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return termResult{server: "wsdeck", err: err}
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return termResult{server: "wsdeck", err: err}
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	base, err := consoleURL(stdout)
	if err != nil {
		return termResult{server: "wsdeck", err: err}
	}
	c, err := dialWsdeckShell(ctx, base, token)
	if err != nil {
		return termResult{server: "wsdeck", err: err}
	}
	defer c.close()
	r := measureTerminal(ctx, cfg, c, cmd.Process.Pid, big)
	r.server = "wsdeck"
	r.serverProcs = "wsdeck serve (its ssh client is in the process)"
	return r
}

// consoleURL reads wsdeck's stdout for its URL, and drains the rest.
func consoleURL(stdout interface{ Read([]byte) (int, error) }) (string, error) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, u, ok := strings.Cut(sc.Text(), "wsdeck console: open "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			base, _, _ := strings.Cut(u, "/?token=")
			return base, nil
		}
	}
	return "", errors.New("wsdeck printed no URL")
}

// wsdeckShell is a client of /ws/shell: one terminal on channel ch.
type wsdeckShell struct {
	ws      *websocket.Conn
	ch      byte
	pending [][]byte
}

func dialWsdeckShell(ctx context.Context, base, token string) (*wsdeckShell, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws/shell"
	h := http.Header{"Authorization": {"Bearer " + token}}
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	c := &wsdeckShell{ws: ws}
	open, _ := json.Marshal(map[string]any{"type": "open", "id": "1", "host": "127.0.0.1", "cols": 120, "rows": 40})
	if err := ws.Write(ctx, websocket.MessageText, open); err != nil {
		return nil, err
	}
	for {
		typ, p, err := ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		if typ == websocket.MessageBinary {
			c.pending = append(c.pending, p)
			continue
		}
		var m struct {
			Type, Error string
			Session     struct{ Ch byte }
			Errors      []struct{ Host, Error string }
		}
		json.Unmarshal(p, &m)
		switch m.Type {
		case "attached":
			c.ch = m.Session.Ch
		case "opened":
			if len(m.Errors) > 0 {
				return nil, fmt.Errorf("open: %s: %s", m.Errors[0].Host, m.Errors[0].Error)
			}
			return c, nil
		case "error":
			return nil, fmt.Errorf("open: %s", m.Error)
		}
	}
}

func (c *wsdeckShell) send(ctx context.Context, p string) error {
	return c.ws.Write(ctx, websocket.MessageBinary, append([]byte{c.ch}, p...))
}

func (c *wsdeckShell) output(ctx context.Context) ([]byte, error) {
	for {
		var p []byte
		if len(c.pending) > 0 {
			p, c.pending = c.pending[0], c.pending[1:]
		} else {
			typ, b, err := c.ws.Read(ctx)
			if err != nil {
				return nil, err
			}
			if typ != websocket.MessageBinary {
				continue
			}
			p = b
		}
		if len(p) == 0 || p[0] != c.ch {
			continue
		}
		// Drawn at once: acknowledge it, as the page does when xterm.js
		// has parsed it.
		ack, _ := json.Marshal(map[string]any{"type": "ack", "ch": c.ch, "bytes": len(p) - 1})
		if err := c.ws.Write(ctx, websocket.MessageText, ack); err != nil {
			return nil, err
		}
		return p[1:], nil
	}
}

func (c *wsdeckShell) close() { c.ws.CloseNow() }

// --- WeTTY ---

func runWettyTerminal(ctx context.Context, cfg TerminalConfig, s *sshd, dir, big string) termResult {
	port, err := freePort()
	if err != nil {
		return termResult{server: "wetty", err: err}
	}
	// WeTTY run as root on 127.0.0.1 would use login(1), not ssh:
	// --force-ssh makes it log in over SSH as for any other host.
	cmd := exec.Command("node", cfg.WettyBin, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--base", "/wetty/",
		"--ssh-host", "127.0.0.1", "--ssh-port", strconv.Itoa(s.port), "--ssh-user", s.user, "--ssh-auth", "publickey",
		"--ssh-key", s.key, "--known-hosts", s.knownHosts, "--force-ssh", "--log-level", wettyLogLevel())
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return termResult{server: "wetty", err: err}
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var c *socketIO
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err = dialWetty(ctx, port)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return termResult{server: "wetty", err: fmt.Errorf("%w; its log: %s", err, logTail(logs.Bytes()))}
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer c.close()
	r := measureTerminal(ctx, cfg, c, cmd.Process.Pid, big)
	r.server = "wetty"
	r.serverProcs = "node (WeTTY) and its ssh client"
	if r.err != nil {
		r.err = fmt.Errorf("%w; its log: %s", r.err, logTail(logs.Bytes()))
	}
	return r
}

// socketIO is a socket.io (Engine.IO 4) client over WebSocket, as WeTTY's
// page is: it emits input, resize and commit (WeTTY's flow control: the
// characters drawn), and receives data.
type socketIO struct {
	ws      *websocket.Conn
	pending []string
}

func dialWetty(ctx context.Context, port int) (*socketIO, error) {
	u := fmt.Sprintf("ws://127.0.0.1:%d/wetty/socket.io/?EIO=4&transport=websocket", port)
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{
		"Origin":  {fmt.Sprintf("http://127.0.0.1:%d", port)},
		"Referer": {fmt.Sprintf("http://127.0.0.1:%d/wetty/", port)},
	}})
	if err != nil {
		return nil, err
	}
	c := &socketIO{ws: ws}
	if _, p, err := ws.Read(ctx); err != nil || !strings.HasPrefix(string(p), "0") {
		ws.CloseNow()
		return nil, fmt.Errorf("engine.io open: %q, %v", p, err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("40")); err != nil {
		return nil, err
	}
	// Nothing may be emitted before the namespace is connected: the
	// server drops a connection that does.
	for {
		_, p, err := ws.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("socket.io connect: %w", err)
		}
		if strings.HasPrefix(string(p), "40") {
			break
		}
		if string(p) == "2" {
			ws.Write(ctx, websocket.MessageText, []byte("3"))
		}
	}
	if err := c.emit(ctx, "resize", map[string]int{"cols": 120, "rows": 40}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *socketIO) emit(ctx context.Context, event string, v any) error {
	b, _ := json.Marshal([]any{event, v})
	return c.ws.Write(ctx, websocket.MessageText, append([]byte("42"), b...))
}

func (c *socketIO) send(ctx context.Context, p string) error { return c.emit(ctx, "input", p) }

func (c *socketIO) output(ctx context.Context) ([]byte, error) {
	for {
		_, p, err := c.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case string(p) == "2": // ping
			if err := c.ws.Write(ctx, websocket.MessageText, []byte("3")); err != nil {
				return nil, err
			}
			continue
		case !bytes.HasPrefix(p, []byte("42")):
			continue
		}
		var ev []json.RawMessage
		if json.Unmarshal(p[2:], &ev) != nil || len(ev) != 2 || string(ev[0]) != `"data"` {
			continue
		}
		var s string
		if json.Unmarshal(ev[1], &s) != nil {
			continue
		}
		// Drawn at once: commit it, as WeTTY's page does once xterm.js
		// has written it (it counts UTF-16 units; the text here is ASCII).
		if err := c.emit(ctx, "commit", len(s)); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
}

func (c *socketIO) close() { c.ws.CloseNow() }

// --- report ---

func writeTerminalReport(cfg TerminalConfig, results []termResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Terminal: keystroke-to-echo latency and output throughput (issue 14)\n\n")
	fmt.Fprintf(&b, "`cd bench && go run ./cmd/wsbench %s`, %s, on %s.\n\n", strings.Join(cfg.Args, " "), time.Now().UTC().Format("2006-01-02 15:04 UTC"), termMachine())
	fmt.Fprintf(&b, "Each web terminal logs in over SSH to the same loopback OpenSSH as the same user with the same key; "+
		"the client is a Go program speaking each one's page protocol (wsdeck's /ws/shell binary frames with their acks; "+
		"WeTTY's socket.io events with its `commit` flow control), acknowledging output as soon as it arrives. "+
		"Latency: %d keystrokes one at a time into `dd bs=1` on a terminal with `-icanon -echo` (the echo is dd's output, "+
		"a full round trip through the remote program). Throughput: `cat` of a %d MiB file of 80-column lines, timed from the "+
		"first byte after a start mark to an end mark. RSS: the server process and its children (WeTTY's ssh client; "+
		"wsdeck's SSH client is in its process), sampled every 50 ms during the cat. %d rounds, servers alternating. "+
		"Load average when the run started: %s (the machine may have been running other work: compare the rows, not the absolute figures).\n\n",
		cfg.Keystrokes, cfg.CatBytes>>20, cfg.Rounds, cfg.loadAvg)
	if cfg.WettyBin == "" {
		fmt.Fprintf(&b, "WeTTY was not measured: %s\n\n", cfg.WettyWhy)
	} else if cfg.WettyNote != "" {
		fmt.Fprintf(&b, "%s\n\n", cfg.WettyNote)
	}
	b.WriteString("| server | round | latency p50 | p99 | max | throughput | RSS before cat | RSS max during | RSS after |\n|---|---|---|---|---|---|---|---|---|\n")
	rounds := map[string]int{}
	for _, r := range results {
		rounds[r.server]++
		if r.err != nil && len(r.lat) == 0 {
			fmt.Fprintf(&b, "| %s | %d | failed: %s |||||||\n", r.server, rounds[r.server], strings.ReplaceAll(r.err.Error(), "|", "/"))
			continue
		}
		p50, p99, mx := quantiles(r.lat)
		thr := "—"
		if r.catTime > 0 && r.err == nil {
			thr = fmt.Sprintf("%.1f MB/s", float64(r.catBytes)/1e6/r.catTime.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.server, rounds[r.server],
			ms(p50), ms(p99), ms(mx), thr, mib(r.rssBefore), mib(r.rssMax), mib(r.rssAfter))
		if r.err != nil {
			fmt.Fprintf(&b, "\n(%s round %d: %s)\n\n", r.server, rounds[r.server], r.err)
		}
	}
	b.WriteString("\n")
	return os.WriteFile(cfg.Out, []byte(b.String()), 0o644)
}

func quantiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)], s[len(s)-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

func termMachine() string {
	out, _ := exec.Command("uname", "-srm").Output()
	return fmt.Sprintf("%s, %d CPUs", strings.TrimSpace(string(out)), runtime.NumCPU())
}

func wettyLogLevel() string {
	if termDebug {
		return "debug"
	}
	return "warn"
}

func logTail(b []byte) []byte {
	if termDebug || len(b) < 600 {
		return b
	}
	return b[len(b)-600:]
}
