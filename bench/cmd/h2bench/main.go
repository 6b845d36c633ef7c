// Command h2bench compares WebSockets multiplexed over one HTTP/2
// connection (RFC 8441) with the same number over a TCP connection each:
// the memory each socket costs the server and the client (each measured in
// a process of its own: the client runs as a child) and the echo
// throughput of all of them at once. Both sides are wsdeck's
// websocket package over TLS; the client's HTTP/2 transport is
// golang.org/x/net/http2's (net/http's refuses the :protocol header).
//
//	cd bench && GODEBUG=http2xconnect=1 go run ./cmd/h2bench
//
// net/http's HTTP/2 server takes extended CONNECTs only with that GODEBUG
// set as the process starts; without it the command says so and stops.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"

	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/wsdeck/wsdeck/websocket"
)

func main() {
	n := flag.Int("sockets", 1000, "sockets in each mode")
	size := flag.Int("size", 1024, "echo message size in bytes")
	dur := flag.Duration("duration", 5*time.Second, "echo time in each mode")
	frame = flag.Int("max-frame", 16<<10, "the server's SETTINGS_MAX_FRAME_SIZE (net/http's default is 1 MiB; x/net/http2's client keeps a buffer of up to min(it, 512 KiB) per streaming request body)")
	clientURL := flag.String("client", "", "internal: run as the client process, dialling this URL")
	mode := flag.String("mode", "", "internal: the client's transport, http2 or http1")
	flag.Parse()
	if *clientURL != "" {
		if err := client(*clientURL, *mode, *n, *size, *dur); err != nil {
			log.Fatalf("h2bench client: %v", err)
		}
		return
	}
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		log.Fatal("h2bench: run with GODEBUG=http2xconnect=1: net/http's HTTP/2 server takes extended CONNECT only then")
	}
	fmt.Printf("%d sockets, %d B messages, %v of echo per mode, server SETTINGS_MAX_FRAME_SIZE %d, GOMAXPROCS %d, %s\n\n", *n, *size, *dur, *frame, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Println("| transport | TCP connections | server memory per socket | client memory per socket | server goroutines per socket | echo msgs/s (all sockets) | echo MB/s (both ways) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, m := range []string{"http2", "http1"} {
		r, err := serve(m, *n, *size, *dur)
		if err != nil {
			log.Fatalf("h2bench %s: %v", m, err)
		}
		name := map[string]string{"http2": "HTTP/2, one connection (RFC 8441)", "http1": "HTTP/1.1, one TCP connection each"}[m]
		fmt.Printf("| %s | %d | %.1f KiB | %.1f KiB | %.1f | %.0f | %.1f |\n", name, r.conns, r.serverBytes/1024, r.clientBytes/1024, r.serverGoroutines, r.msgsPerSec, r.msgsPerSec*float64(*size)*2/1e6)
	}
}

var frame *int

// report is what the client process prints, one line of it per phase.
type report struct {
	ClientBytes float64 `json:"client_bytes"` // per socket
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	Err         string  `json:"err,omitempty"`
}

type result struct {
	conns            int32
	serverBytes      float64
	clientBytes      float64
	serverGoroutines float64
	msgsPerSec       float64
}

// serve runs the echo server here and the client in a child process, so
// each side's memory is measured on its own.
func serve(mode string, n, size int, dur time.Duration) (result, error) {
	var res result
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		var buf []byte
		for {
			typ, p, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
			buf = p
		}
	}))
	s.EnableHTTP2 = mode == "http2"
	s.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: n + 100, MaxReadFrameSize: *frame}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	defer s.Close()

	before := memInUse()
	g0 := runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-client", s.URL, "-mode", mode, "-sockets", strconv.Itoa(n),
		"-size", strconv.Itoa(size), "-duration", dur.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer cmd.Wait()
	defer stdin.Close()
	dec := json.NewDecoder(stdout)
	var idle report
	if err := dec.Decode(&idle); err != nil || idle.Err != "" {
		return res, fmt.Errorf("client: %v%s", err, idle.Err)
	}
	// The client holds its sockets, idle, until told to go on.
	res.conns = conns.Load()
	res.serverBytes = float64(memInUse()-before) / float64(n)
	res.serverGoroutines = float64(runtime.NumGoroutine()-g0) / float64(n)
	res.clientBytes = idle.ClientBytes
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		return res, err
	}
	var echo report
	if err := dec.Decode(&echo); err != nil || echo.Err != "" {
		return res, fmt.Errorf("client: %v%s", err, echo.Err)
	}
	res.msgsPerSec = echo.MsgsPerSec
	return res, nil
}

// client dials n sockets to url, echoes one message on each, reports its
// memory per socket, waits for a line on stdin, runs the echo and reports
// its rate.
func client(url, mode string, n, size int, dur time.Duration) error {
	enc := json.NewEncoder(os.Stdout)
	fail := func(err error) error {
		enc.Encode(report{Err: err.Error()})
		return err
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: true} // httptest's certificate, on loopback
	url = "wss" + strings.TrimPrefix(url, "https") + "/"
	opts := &websocket.DialOptions{TLSConfig: tlsCfg}
	if mode == "http2" {
		tr := &http2.Transport{TLSClientConfig: tlsCfg}
		defer tr.CloseIdleConnections()
		opts.HTTP2 = tr
	}
	before := memInUse()
	socks := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range socks {
			c.CloseNow()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for range n {
		c, resp, err := websocket.Dial(ctx, url, opts)
		if err != nil {
			return fail(err)
		}
		if want := map[string]int{"http2": 2, "http1": 1}[mode]; resp.ProtoMajor != want {
			return fail(fmt.Errorf("dialled over %s", resp.Proto))
		}
		socks = append(socks, c)
	}
	// One echo on each, so both sides have served a message, then idle.
	msg := make([]byte, size)
	for _, c := range socks {
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			return fail(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			return fail(err)
		}
	}
	enc.Encode(report{ClientBytes: float64(memInUse()-before) / float64(n)})
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail(err)
	}

	// Echo: every socket writes and reads back in a loop.
	var msgs atomic.Int64
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	start := time.Now()
	for _, c := range socks {
		wg.Go(func() {
			buf := make([]byte, 0, size)
			for time.Now().Before(stop) {
				err := c.Write(ctx, websocket.MessageBinary, msg)
				if err == nil {
					_, buf, err = c.ReadAppend(ctx, buf[:0])
				}
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				msgs.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errc:
		return fail(fmt.Errorf("echo: %w", err))
	default:
	}
	for _, c := range socks {
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil && !errors.Is(err, net.ErrClosed) {
			return fail(fmt.Errorf("close: %w", err))
		}
	}
	socks = nil
	return enc.Encode(report{MsgsPerSec: float64(msgs.Load()) / elapsed.Seconds()})
}

// memInUse is the heap and stacks in use after a collection.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
