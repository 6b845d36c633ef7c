package fleetmon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/internal/testkit/sshtest"
)

// TestServerRequestsAnswered: the sampler reads a bare connection, with
// no goroutine taking the server's requests; it answers them after each
// sample. A server that sends a global request and a channel request,
// each wanting a reply, after each of 30 samples gets its 60 replies,
// and a channel it opens is refused. Unanswered, the requests would fill
// x/crypto's queues (16 each) and stop the connection.
func TestServerRequestsAnswered(t *testing.T) {
	hostSigner, _ := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := &requestServer{samples: 30}
	port := srv.start(t, hostSigner, key.PublicKey())
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id_ed25519"), keyPEM, 0o600)
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.1]:%d", port), hostSigner.PublicKey())), 0o600)

	e := enginetest.Embedded(t)
	f, err := New(t.Context(), e, Options{
		Node: "n1", Beat: 200 * time.Millisecond, Linger: 300 * time.Millisecond,
		SSH: batch.Config{Port: port, SSHDir: dir, AgentSocket: batch.None, SSHConfig: batch.None,
			KnownHosts: []string{known}, ConnectTimeout: 30 * time.Second, Policy: batch.DefaultPolicy()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := f.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	hosts, _ := hostexpr.Parse("127.0.0.1", nil)
	v, err := f.Watch(t.Context(), discardViewer{}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Unwatch(v)
	poll.Until(t, 20*time.Second, "60 replies to the server's requests", func() bool {
		return srv.replies.Load() >= 60
	})
	if n := srv.refused.Load(); n != 1 {
		t.Errorf("the server's channel open: %d refusals, want 1", n)
	}
}

type discardViewer struct{}

func (discardViewer) SendOwn([]byte) bool { return true }

// requestServer is an SSH server on 127.0.0.1 that answers the loop's
// command with samples, the first samples each followed by a global
// request and a channel request that want replies, and opens a channel
// of its own once.
type requestServer struct {
	samples          int
	replies, refused atomic.Int64
	wg               sync.WaitGroup
}

func (s *requestServer) start(t *testing.T, hostKey ssh.Signer, client ssh.PublicKey) int {
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(client.Marshal()) {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		s.wg.Wait()
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, cfg)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *requestServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	for nc := range chans {
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for r := range creqs {
				r.Reply(r.Type == "exec", nil)
				if r.Type == "exec" {
					s.wg.Add(1)
					go func() {
						defer s.wg.Done()
						s.stream(sc, ch)
					}()
				}
			}
		}()
	}
}

// stream writes a sample every 10 ms (the loop's pace, quickened), and
// after each one sends the two requests from goroutines that wait for
// their replies, until it has the replies it wants; the first sample
// also comes with a channel open.
func (s *requestServer) stream(sc *ssh.ServerConn, ch ssh.Channel) {
	defer ch.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; s.replies.Load() < int64(2*s.samples); i++ {
		sample := "@wsdeck-fleet 1\n==> /proc/stat <==\ncpu " + strconv.Itoa(100*i) + " 0 0 " + strconv.Itoa(100*i) +
			"\n==> /proc/meminfo <==\nMemTotal: 1000 kB\nMemAvailable: 500 kB\n==> /proc/loadavg <==\n0.1 0.2 0.3 1/1 1\n" +
			"==> /proc/uptime <==\n" + strconv.Itoa(1000+i) + ".00 1.00\n@df\n@end\n"
		if _, err := ch.Write([]byte(sample)); err != nil {
			return
		}
		if i == 0 {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if _, _, err := sc.OpenChannel("x11", nil); err != nil {
					s.refused.Add(1)
				}
			}()
		}
		if i < s.samples {
			s.wg.Add(2)
			go func() {
				defer s.wg.Done()
				if _, _, err := sc.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					s.replies.Add(1)
				}
			}()
			go func() {
				defer s.wg.Done()
				if _, err := ch.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					s.replies.Add(1)
				}
			}()
		}
		<-tick.C
	}
	// Stay open: the sampler keeps its session until the test ends.
	sc.Wait()
}

// TestSharedDialerReloads: the shared Dialer refuses a host whose key
// known_hosts does not hold, and once known_hosts is fixed, the next dial
// (after the check interval) reads it again and gets through.
func TestSharedDialerReloads(t *testing.T) {
	hostSigner, _ := sshtest.NewKey(t)
	other, _ := sshtest.NewKey(t)
	key, keyPEM := sshtest.NewKey(t)
	srv := &requestServer{}
	port := srv.start(t, hostSigner, key.PublicKey())
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "id_ed25519"), keyPEM, 0o600)
	known := filepath.Join(dir, "known_hosts")
	line := func(k ssh.Signer) []byte {
		return []byte(sshtest.KnownHostsLine(fmt.Sprintf("[127.0.0.1]:%d", port), k.PublicKey()))
	}
	os.WriteFile(known, line(other), 0o600)
	d := &sharedDialer{cfg: batch.Config{Port: port, SSHDir: dir, AgentSocket: batch.None, SSHConfig: batch.None,
		KnownHosts: []string{known}, ConnectTimeout: 10 * time.Second}}
	defer d.close()
	h := hostexpr.Host{Name: "127.0.0.1"}
	_, err := d.dial(t.Context(), h)
	var de *batch.DialError
	if !errors.As(err, &de) || de.Status != batch.StatusHostKeyChanged {
		t.Fatalf("dial with another key in known_hosts: %v", err)
	}
	os.WriteFile(known, line(hostSigner), 0o600)
	// The same size: the modification time tells.
	if err := os.Chtimes(known, time.Time{}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, err := d.dial(t.Context(), h)
	if err != nil {
		t.Fatalf("dial after known_hosts was fixed: %v", err)
	}
	c.Close()
	d.close()
	if _, err := d.dial(t.Context(), h); !errors.Is(err, ErrShutdown) {
		t.Errorf("dial after close: %v, want ErrShutdown", err)
	}
}
