package batch

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// testServer is an in-process SSH server (x/crypto/ssh) listening on
// several loopback addresses on one port. Its commands are built in, so
// that each outcome can be produced on demand:
//
//	hostname    print the address the client reached
//	echo TEXT   print TEXT
//	both        "out" on stdout, "err" on stderr
//	exit N      exit with status N
//	yes N       write N bytes
//	sleep       run until signalled (TERM or KILL) or cut off
//	ignore      like sleep, but ignore TERM
//	deaf        ignore every signal: only closing the session ends it
//	barrier N   wait until N sessions are in the barrier, then exit 0
//	killself    end with exit-signal SEGV
//	noexit      close the channel without an exit status
type testServer struct {
	port     int
	addrs    []string // IPs listened on
	hostKeys []ssh.Signer
	config   *ssh.ServerConfig

	mu        sync.Mutex
	changed   chan struct{}           // guarded by mu: closed and replaced on every change below
	conns     int                     // guarded by mu: open connections
	sessions  int                     // guarded by mu: open sessions
	maxConns  int                     // guarded by mu: most connections open at once
	running   map[string]int          // guarded by mu: commands running, by name
	signals   map[string]int          // guarded by mu: signals received, by name
	barrier   map[int][]chan struct{} // guarded by mu: sessions waiting, by barrier size
	listeners []net.Listener          // guarded by mu
	open      map[net.Conn]struct{}   // guarded by mu
	closed    bool                    // guarded by mu
	wg        sync.WaitGroup
	users     map[string]ssh.PublicKey // who may log in with which key; "" any user
	commands  []string                 // guarded by mu: exec requests as received
}

// unwrapCommand undoes wrapCommand, as /bin/sh would: it returns the
// command inside the watchdog, or the command as it is.
func unwrapCommand(s string) (string, bool) {
	prefix := watchdogPrefix + shellQuote(watchdog) + " wsdeck "
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return s, false
	}
	quoted := rest[:strings.LastIndexByte(rest, ' ')]
	return strings.ReplaceAll(quoted[1:len(quoted)-1], `'\''`, "'"), true
}

// startServer starts a server on 127.0.0.1..127.0.0.n, all on one port,
// that lets user (any, if "") in with the key client.
func startServer(t testing.TB, n int, user string, client ssh.PublicKey, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	if len(hostKeys) == 0 {
		hk, _ := sshtest.NewKey(t)
		hostKeys = []ssh.Signer{hk}
	}
	s := &testServer{
		hostKeys: hostKeys,
		changed:  make(chan struct{}),
		running:  map[string]int{},
		signals:  map[string]int{},
		barrier:  map[int][]chan struct{}{},
		open:     map[net.Conn]struct{}{},
		users:    map[string]ssh.PublicKey{user: client},
	}
	s.config = &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			want, ok := s.users[c.User()]
			if !ok {
				want, ok = s.users[""]
			}
			if ok && keysEqual(want, key) {
				return nil, nil
			}
			return nil, errors.New("not authorized")
		},
	}
	for _, k := range hostKeys {
		s.config.AddHostKey(k)
	}
	var addrs []string
	for i := 1; i <= n; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d", i))
	}
	lns := listenAll(t, addrs)
	s.addrs = addrs
	s.port = lns[0].Addr().(*net.TCPAddr).Port
	s.listeners = lns
	for _, ln := range lns {
		s.wg.Go(func() { s.serve(ln) })
	}
	t.Cleanup(s.close)
	return s
}

// listenAll listens on every address on one free port, trying a few
// ports if one is taken on some address.
func listenAll(t testing.TB, addrs []string) []net.Listener {
	t.Helper()
	var lastErr error
	for range 20 {
		first, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, a := range addrs[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				lastErr = err
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(addrs) {
			return lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no port free on all of %v: %v", addrs, lastErr)
	return nil
}

// stall makes a listener on 127.0.0.n that accepts connections and never
// says a word: a server that hangs in the handshake.
func (s *testServer) stall(t testing.TB, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.track(c, true) // held open, silent, until the server closes
		}
	})
	return ln.Addr().String()
}

// track records an open connection (or forgets it).
func (s *testServer) track(c net.Conn, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open && s.closed {
		c.Close()
	} else if open {
		s.open[c] = struct{}{}
	} else {
		delete(s.open, c)
	}
}

func (s *testServer) close() {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// update changes the counters under mu and wakes waiters.
func (s *testServer) update(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until cond (called under mu) holds, failing t after d.
func (s *testServer) waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("waited %v for %s: conns %d, sessions %d, running %v", d, what, s.conns, s.sessions, s.running)
		}
	}
}

// waitIdle waits until every connection and session has closed.
func (s *testServer) waitIdle(t testing.TB) {
	t.Helper()
	s.waitFor(t, 10*time.Second, "no connection left", func() bool { return s.conns == 0 && s.sessions == 0 })
}

func (s *testServer) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.track(c, true)
		s.update(func() {
			s.conns++
			s.maxConns = max(s.maxConns, s.conns)
		})
		s.wg.Go(func() {
			defer s.update(func() { s.conns-- })
			defer s.track(c, false)
			defer c.Close()
			s.handleConn(c)
		})
	}
}

func (s *testServer) handleConn(c net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	var sessions sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.update(func() { s.sessions++ })
		local := c.LocalAddr().(*net.TCPAddr).IP.String()
		sessions.Go(func() {
			defer s.update(func() { s.sessions-- })
			s.handleSession(ch, creqs, local)
		})
	}
	sessions.Wait()
}

// handleSession serves one session: an exec request, then signals.
func (s *testServer) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request, local string) {
	defer ch.Close()
	sigs := make(chan string, 8)
	done := make(chan struct{})
	var cmd sync.WaitGroup
	defer cmd.Wait()
	defer close(done)
	started := false
	for req := range reqs {
		switch req.Type {
		case "exec":
			if started {
				req.Reply(false, nil)
				continue
			}
			started = true
			var payload struct{ Command string }
			ssh.Unmarshal(req.Payload, &payload)
			command, watched := unwrapCommand(payload.Command)
			s.update(func() { s.commands = append(s.commands, payload.Command) })
			req.Reply(true, nil)
			if watched {
				// The watchdog: the end of stdin stops the command.
				cmd.Go(func() {
					io.Copy(io.Discard, ch)
					s.update(func() { s.signals["stdin-eof"]++ })
					select {
					case sigs <- "TERM":
					default:
					}
				})
			}
			cmd.Go(func() { s.runCommand(ch, command, local, sigs, done) })
		case "signal":
			var payload struct{ Signal string }
			ssh.Unmarshal(req.Payload, &payload)
			s.update(func() { s.signals[payload.Signal]++ })
			select {
			case sigs <- payload.Signal:
			default:
			}
		default:
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
	// The client closed the channel or the connection went: done stops
	// the command.
}

func exitStatus(ch ssh.Channel, code int) {
	ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
	ch.Close()
}

func exitSignal(ch ssh.Channel, sig string) {
	ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}{Signal: sig}))
	ch.Close()
}

func (s *testServer) runCommand(ch ssh.Channel, command, local string, sigs <-chan string, done <-chan struct{}) {
	name, arg, _ := strings.Cut(command, " ")
	s.update(func() { s.running[name]++ })
	defer s.update(func() { s.running[name]-- })
	switch name {
	case "hostname":
		fmt.Fprintln(ch, local)
		exitStatus(ch, 0)
	case "echo":
		fmt.Fprintln(ch, arg)
		exitStatus(ch, 0)
	case "both":
		fmt.Fprintln(ch, "out")
		fmt.Fprintln(ch.Stderr(), "err")
		exitStatus(ch, 0)
	case "exit":
		n, _ := strconv.Atoi(arg)
		exitStatus(ch, n)
	case "yes":
		n, _ := strconv.Atoi(arg)
		chunk := bytes.Repeat([]byte("y"), 32<<10)
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := ch.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
		exitStatus(ch, 0)
	case "sleep", "ignore", "deaf":
		for {
			select {
			case sig := <-sigs:
				if name == "deaf" || name == "ignore" && sig == "TERM" {
					continue
				}
				exitSignal(ch, sig)
				return
			case <-done:
				return
			}
		}
	case "barrier":
		n, _ := strconv.Atoi(arg)
		release := make(chan struct{})
		s.update(func() {
			s.barrier[n] = append(s.barrier[n], release)
			if len(s.barrier[n]) == n {
				for _, r := range s.barrier[n] {
					close(r)
				}
				s.barrier[n] = nil
			}
		})
		select {
		case <-release:
			exitStatus(ch, 0)
		case <-done:
		}
	case "killself":
		exitSignal(ch, "SEGV")
	case "noexit":
		ch.Close()
	default:
		fmt.Fprintf(ch.Stderr(), "%s: command not found\n", name)
		exitStatus(ch, 127)
	}
}

// env is the client side of a test: a directory standing for ~/.ssh with
// a key the server accepts as id_ed25519 and a known_hosts that trusts the
// server's first host key on every 127.0.0.* address (a wildcard line).
type env struct {
	dir    string
	key    ssh.Signer
	pemKey []byte
	srv    *testServer
	known  string // the known_hosts path
	config Config
}

func newEnv(t testing.TB, hosts int) *env {
	t.Helper()
	key, pemKey := sshtest.NewKey(t)
	srv := startServer(t, hosts, "", key.PublicKey())
	return newEnvFor(t, srv, key, pemKey)
}

func newEnvFor(t testing.TB, srv *testServer, key ssh.Signer, pemKey []byte) *env {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "id_ed25519"), pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	line := sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.*]:%d", srv.port), srv.hostKeys[0].PublicKey())
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return &env{dir: dir, key: key, pemKey: pemKey, srv: srv, known: known, config: Config{
		Port:           srv.port,
		SSHDir:         dir,
		AgentSocket:    None,
		SSHConfig:      None,
		KnownHosts:     []string{known},
		ConnectTimeout: 10 * time.Second,
		KillGrace:      5 * time.Second,
	}}
}

// writeKnownHosts replaces the env's known_hosts content.
func (e *env) writeKnownHosts(t testing.TB, content string) {
	t.Helper()
	if err := os.WriteFile(e.known, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func hashedLine(hostport string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(hostport))}, key) + "\n"
}

// newECDSAKey returns an ECDSA P-256 signer.
func newECDSAKey(t testing.TB) ssh.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
