package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The floor (-client floor) is the least a Go console can hold per host
// with x/crypto/ssh, the SSH library wsdeck uses: a process of this
// program that keeps one connection and one session per host running the
// loop, and reads its output into a buffer of 2 KiB. No parsing, no
// records, no engine, no stderr reader, no WebSocket: what is left is
// x/crypto/ssh's connection (its buffers, cipher states and three
// goroutines) and one reading goroutine. It is measured as the console
// is (RSS and CPU of the process, heap and stacks from the runtime), so
// the console's figure per host can be read beside it.

// floorEnv, when set in the environment, makes this program the floor
// client; the parent drives it over stdin and stdout:
//
//	parent: mem       child: {"heap_alloc":...} (after a GC)
//	parent: dial      child: up N (every host has sent a sample)
const floorEnv = "FLEETBENCH_FLOOR"

// floorMem is the child's answer to "mem".
type floorMem struct {
	HeapAlloc  int64 `json:"heap_alloc"`
	HeapInuse  int64 `json:"heap_inuse"`
	StackInuse int64 `json:"stack_inuse"`
	Goroutines int64 `json:"goroutines"`
}

// floorClient is the parent's handle on the child.
type floorClient struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startFloor(t hostSet, n int) (*floorClient, error) {
	key, known, port := t.credentials()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d,%d", floorEnv, key, known, port, n))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &floorClient{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// ask sends a command and returns the child's answer.
func (f *floorClient) ask(cmd string) (string, error) {
	if _, err := fmt.Fprintln(f.in, cmd); err != nil {
		return "", err
	}
	if !f.out.Scan() {
		return "", fmt.Errorf("the floor client ended: %v", f.out.Err())
	}
	return f.out.Text(), nil
}

func (f *floorClient) mem() (floorMem, error) {
	var m floorMem
	a, err := f.ask("mem")
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal([]byte(a), &m)
}

func (f *floorClient) stop() {
	f.in.Close()
	f.cmd.Process.Kill()
	f.cmd.Wait()
}

// measureFloor is measure's part for the floor client: the same figures,
// from the child's process and runtime.
func measureFloor(t hostSet, n int, window, settle time.Duration) (row, error) {
	f, err := startFloor(t, n)
	if err != nil {
		return row{}, err
	}
	defer f.stop()
	r := row{hosts: n, window: window}
	pid := f.cmd.Process.Pid
	idle, err := f.mem()
	if err != nil {
		return r, err
	}
	r.idleRSS = procRSS(pid)
	r.idleHeap, r.idleStack, r.idleGoroutines, r.idleLive = idle.HeapInuse, idle.StackInuse, idle.Goroutines, idle.HeapAlloc
	start := time.Now()
	a, err := f.ask("dial")
	if err != nil {
		return r, err
	}
	if a != fmt.Sprintf("up %d", n) {
		return r, fmt.Errorf("floor client: %s", a)
	}
	r.connectedInSecs = time.Since(start).Seconds()
	log.Printf("floor: %d hosts up in %.1f s; settling %v", n, r.connectedInSecs, settle)
	time.Sleep(settle)
	cpu0 := procCPU(pid)
	time.Sleep(window)
	r.consoleCPU = (procCPU(pid) - cpu0).Seconds() / window.Seconds()
	r.rss = procRSS(pid)
	r.targetCPU = -1
	r.up = n
	m, err := f.mem()
	if err != nil {
		return r, err
	}
	r.heap, r.stack, r.goroutines, r.live = m.HeapInuse, m.StackInuse, m.Goroutines, m.HeapAlloc
	log.Printf("floor, %d hosts: %.3f cores, RSS %d MiB (idle %d MiB)", n, r.consoleCPU, r.rss>>20, r.idleRSS>>20)
	return r, nil
}

// floorMain is the child: see floorEnv.
func floorMain(spec string) {
	parts := strings.Split(spec, ",")
	if len(parts) != 4 {
		log.Fatalf("%s=%q: want key,known_hosts,port,hosts", floorEnv, spec)
	}
	port, _ := strconv.Atoi(parts[2])
	n, _ := strconv.Atoi(parts[3])
	keyPEM, err := os.ReadFile(parts[0])
	if err != nil {
		log.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		log.Fatal(err)
	}
	hostKeys, err := knownhosts.New(parts[1])
	if err != nil {
		log.Fatal(err)
	}
	// One config for every connection, as the console's shared dialer.
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         30 * time.Second,
	}
	var up atomic.Int64
	allUp := make(chan struct{})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "mem":
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b, _ := json.Marshal(floorMem{
				HeapAlloc: int64(ms.HeapAlloc), HeapInuse: int64(ms.HeapInuse),
				StackInuse: int64(ms.StackInuse), Goroutines: int64(runtime.NumGoroutine()),
			})
			fmt.Println(string(b))
		case "dial":
			sem := make(chan struct{}, 64)
			var failed atomic.Pointer[error] // the first session that could not start
			for _, a := range addrs(n) {
				sem <- struct{}{}
				go func() {
					err := floorSession(net.JoinHostPort(a, strconv.Itoa(port)), cfg, func() {
						<-sem
						if up.Add(1) == int64(n) {
							close(allUp)
						}
					})
					if err != nil {
						failed.CompareAndSwap(nil, &err)
						<-sem
					}
				}()
			}
			select {
			case <-allUp:
				fmt.Printf("up %d\n", n)
			case <-time.After(3 * time.Minute):
				var why error
				if p := failed.Load(); p != nil {
					why = *p
				}
				fmt.Printf("after 3m, %d of %d hosts up (%v)\n", up.Load(), n, why)
			}
		}
	}
	os.Exit(0)
}

// floorSession keeps one session on addr running, reading what it
// prints; first is called on its first output. It returns only if the
// session could not start.
func floorSession(addr string, cfg *ssh.ClientConfig, first func()) error {
	nc, err := net.DialTimeout("tcp", addr, cfg.Timeout)
	if err != nil {
		return err
	}
	conn, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return err
	}
	ch, creqs, err := conn.OpenChannel("session", nil)
	if err != nil {
		conn.Close()
		return err
	}
	cmd := struct{ Command string }{"while :; do cat /proc/stat; sleep 1; done"}
	if ok, err := ch.SendRequest("exec", true, ssh.Marshal(&cmd)); err != nil || !ok {
		conn.Close()
		return errors.Join(errors.New("exec refused"), err)
	}
	go func() {
		defer conn.Close()
		buf := make([]byte, 2048)
		once := false
		for {
			if _, err := ch.Read(buf); err != nil {
				return
			}
			if !once {
				once = true
				first()
			}
			// Requests are answered between reads, without a goroutine
			// of their own, as the console's sampler does.
			for drained := false; !drained; {
				select {
				case r := <-reqs:
					if r != nil && r.WantReply {
						r.Reply(false, nil)
					}
				case r := <-creqs:
					if r != nil && r.WantReply {
						r.Reply(false, nil)
					}
				case c := <-chans:
					if c != nil {
						c.Reject(ssh.Prohibited, "no")
					}
				default:
					drained = true
				}
			}
		}
	}()
	return nil
}
