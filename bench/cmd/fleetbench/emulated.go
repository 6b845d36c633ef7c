package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// emulated is an SSH server of this process on every address, standing in
// for the targets when the machine cannot run N real ones at one sample
// a second: it accepts the console's key and answers any command with the
// loop's output, this machine's /proc read once a second and sent to
// every session in one write (as the loop does under dash). It measures
// the console alone; the targets' cost is OpenSSH's rows.
type emulated struct {
	key, known string
	port       int
	lns        []net.Listener
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu     sync.Mutex
	sample []byte
	cond   *sync.Cond
	seq    int
}

func startEmulated(dir string, n int) (*emulated, error) {
	e := &emulated{key: filepath.Join(dir, "id_ed25519"), known: filepath.Join(dir, "known_hosts")}
	e.cond = sync.NewCond(&e.mu)
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	_, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(e.key, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	clientSigner, _ := ssh.NewSignerFromKey(clientPriv)
	want := clientSigner.PublicKey().Marshal()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), want) {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(hostSigner)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	for attempt := 0; ; attempt++ {
		e.port = 20000 + int(time.Now().UnixNano()%12000)
		err = nil
		for _, a := range addrs(n) {
			ln, lerr := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(e.port)))
			if lerr != nil {
				err = lerr
				break
			}
			e.lns = append(e.lns, ln)
		}
		if err == nil {
			break
		}
		for _, ln := range e.lns {
			ln.Close()
		}
		e.lns = nil
		if attempt == 4 {
			cancel()
			return nil, err
		}
	}
	line := fmt.Sprintf("[127.0.*]:%d %s", e.port, bytes.TrimSpace(ssh.MarshalAuthorizedKey(hostSigner.PublicKey())))
	if err := os.WriteFile(e.known, []byte(line+"\n"), 0o600); err != nil {
		cancel()
		return nil, err
	}
	e.wg.Add(1)
	go e.produce(ctx)
	for _, ln := range e.lns {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go e.serve(ctx, c, cfg)
			}
		}()
	}
	return e, nil
}

// produce reads /proc once a second into the shared sample, as the loop
// prints it (procstat.Loop): the lines it keeps of each file, unindented,
// and a df line.
func (e *emulated) produce(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var b bytes.Buffer
		b.WriteString("@wsdeck-fleet 1\n")
		for _, f := range []string{"/proc/stat", "/proc/meminfo", "/proc/loadavg", "/proc/uptime", "/proc/net/dev"} {
			fmt.Fprintf(&b, "==> %s <==\n", f)
			data, _ := os.ReadFile(f)
			for l := range strings.Lines(string(data)) {
				l = strings.TrimLeft(l, " \t")
				if f == "/proc/stat" && !strings.HasPrefix(l, "cpu") && !strings.HasPrefix(l, "btime") {
					continue
				}
				b.WriteString(l)
				if f == "/proc/meminfo" && strings.HasPrefix(l, "Cached:") {
					break
				}
			}
		}
		b.WriteString("@df\nFilesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda 264212084 19038852 76462412 20% /\n@end\n")
		e.mu.Lock()
		e.sample = b.Bytes()
		e.seq++
		e.cond.Broadcast()
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			e.mu.Lock()
			e.seq = -1
			e.cond.Broadcast()
			e.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

func (e *emulated) serve(ctx context.Context, c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			for r := range creqs {
				r.Reply(r.Type == "exec", nil)
				if r.Type == "exec" {
					go e.stream(ch)
				}
			}
		}()
	}
}

// stream writes each new sample to ch until a write fails.
func (e *emulated) stream(ch ssh.Channel) {
	defer ch.Close()
	last := 0
	for {
		e.mu.Lock()
		for e.seq == last {
			e.cond.Wait()
		}
		if e.seq < 0 {
			e.mu.Unlock()
			return
		}
		last = e.seq
		b := e.sample
		e.mu.Unlock()
		if _, err := ch.Write(b); err != nil {
			return
		}
	}
}

func (e *emulated) stop() {
	e.cancel()
	for _, ln := range e.lns {
		ln.Close()
	}
	e.wg.Wait()
}
