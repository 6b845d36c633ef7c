package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/chat"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/websocket"
)

// TestLoad1000ChatClients connects 1 000 chat clients over loopback, has
// 10 of them send 10 messages each, and checks that every client gets every
// message once, with every event in sequence (nothing lost, repeated or
// reordered); then that, once they have left, the server's goroutines and
// heap are back where they started.
//
// It is not parallel: it measures the process's goroutines and heap. It
// takes about 6 s on two cores, but some 45 s under the race detector, so
// go test -short skips it.
func TestLoad1000ChatClients(t *testing.T) {
	if testing.Short() {
		t.Skip("the load test takes 6 s, 45 s with -race; skipped in -short mode")
	}
	const (
		clients   = 1000
		senders   = 10
		perSender = 10
		messages  = senders * perSender
		dialers   = 8 // handshakes (and history reads) at once
	)
	deadline := time.Now().Add(10 * time.Minute) // stops a broken test; not a timing assertion
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	ts := start(t, Config{
		MaxConns:          clients + 10,
		MaxConnsPerClient: clients + 10, // one client, one address
		PingInterval:      -1,
		Socket:            socket.Options{Rate: -1},
		Chat:              chat.Options{History: 100},
		Logger:            slog.New(slog.DiscardHandler), // a log in memory would grow the heap
	})
	url := "ws" + ts.base[len("http"):] + "/ws/chat"
	// The runtime keeps the descriptors of goroutines that ended, for
	// reuse: make as many as the test will have at once (three a client,
	// both ends counted) before taking the baseline, or they would read
	// as a leak.
	warmGoroutines(4 * clients)
	baseGoroutines, baseHeap := settle()
	t.Logf("baseline: %d goroutines, %d KiB heap", baseGoroutines, baseHeap>>10)

	type result struct {
		welcome chat.Welcome
		events  []chat.Event
		err     error
	}
	conns := make([]*websocket.Conn, clients)
	results := make([]result, clients)
	allMessages := make([]chan struct{}, clients) // closed when client i has every message
	var readers sync.WaitGroup

	start := time.Now()
	sem := make(chan struct{}, dialers)
	var dialWG sync.WaitGroup
	dialErrs := make(chan error, clients)
	for i := range clients {
		allMessages[i] = make(chan struct{})
		sem <- struct{}{}
		dialWG.Add(1)
		go func() {
			defer dialWG.Done()
			defer func() { <-sem }()
			c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s?nick=c%d", url, i),
				&websocket.DialOptions{HTTPHeader: bearer(testToken)})
			if err != nil {
				dialErrs <- err
				return
			}
			conns[i] = c
			r := &results[i]
			_, p, err := c.Read(ctx)
			if err != nil {
				dialErrs <- err
				return
			}
			if err := json.Unmarshal(p, &r.welcome); err != nil {
				dialErrs <- err
				return
			}
			readers.Add(1)
			go func() {
				defer readers.Done()
				got := 0
				for {
					_, p, err := c.Read(context.Background())
					if err != nil {
						if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
							r.err = err
						}
						return
					}
					var e chat.Event
					if err := json.Unmarshal(p, &e); err != nil || e.Seq == 0 {
						r.err = fmt.Errorf("not an event: %s", p)
						return
					}
					r.events = append(r.events, e)
					if e.Type == "message" {
						if got++; got == messages {
							close(allMessages[i])
						}
					}
				}
			}()
		}()
	}
	dialWG.Wait()
	close(dialErrs)
	for err := range dialErrs {
		t.Fatalf("dial: %v", err)
	}
	t.Logf("%d clients connected in %v; %d goroutines", clients, time.Since(start).Round(time.Millisecond), runtime.NumGoroutine())
	if n := ts.Hub().Members(); n != clients {
		t.Fatalf("%d members, want %d", n, clients)
	}

	// Every client is in: each message must reach all of them.
	start = time.Now()
	var sendWG sync.WaitGroup
	sendErrs := make(chan error, senders)
	for s := range senders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			c := conns[s*(clients/senders)]
			for k := range perSender {
				b, _ := json.Marshal(map[string]string{"type": "send", "text": fmt.Sprintf("sender %d message %d", s, k)})
				if err := c.Write(ctx, websocket.MessageText, b); err != nil {
					sendErrs <- err
					return
				}
			}
		}()
	}
	sendWG.Wait()
	close(sendErrs)
	for err := range sendErrs {
		t.Fatalf("send: %v", err)
	}
	for i := range clients {
		select {
		case <-allMessages[i]:
		case <-ctx.Done():
			t.Fatalf("client %d did not get all %d messages by the deadline", i, messages)
		}
	}
	t.Logf("%d messages delivered to %d clients in %v", messages, clients, time.Since(start).Round(time.Millisecond))

	// Everyone leaves.
	start = time.Now()
	var closeWG sync.WaitGroup
	for _, c := range conns {
		sem <- struct{}{}
		closeWG.Add(1)
		go func() {
			defer closeWG.Done()
			defer func() { <-sem }()
			c.Close(websocket.StatusNormalClosure, "")
		}()
	}
	closeWG.Wait()
	readers.Wait()
	t.Logf("%d clients left in %v", clients, time.Since(start).Round(time.Millisecond))

	// Check every client's stream.
	var sent map[uint64]string
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("client %d: %v", i, r.err)
		}
		// Messages and presence events are numbered apart, each by
		// its own stream (one room: no gaps).
		next := map[bool]uint64{true: r.welcome.Seq + 1, false: r.welcome.PSeq + 1}
		msgs := map[uint64]string{}
		for _, e := range r.events {
			isMsg := e.Type == "message"
			if e.Seq != next[isMsg] {
				t.Fatalf("client %d: %s %d after %d: lost, repeated or out of order", i, e.Type, e.Seq, next[isMsg]-1)
			}
			next[isMsg]++
			if isMsg {
				msgs[e.Seq] = e.Text
			}
		}
		if len(msgs) != messages {
			t.Fatalf("client %d got %d messages, want %d", i, len(msgs), messages)
		}
		if sent == nil {
			sent = msgs
			continue
		}
		for seq, text := range sent {
			if msgs[seq] != text {
				t.Fatalf("client %d: message %d is %q, client 0 got %q", i, seq, msgs[seq], text)
			}
		}
	}

	// Back to the baseline: no goroutine or memory left per client. The
	// test's own records go first.
	conns, results, allMessages = nil, nil, nil
	for ts.Hub().Members() != 0 || ts.sockets.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d members, %d sockets left", ts.Hub().Members(), ts.sockets.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	const heapSlack = 1 << 20 // 1 KiB a client would show
	var goroutines int
	var heap uint64
	for {
		goroutines, heap = settle()
		if goroutines <= baseGoroutines && heap <= baseHeap+heapSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the clients left: %d goroutines (baseline %d), %d KiB heap (baseline %d KiB)",
				goroutines, baseGoroutines, heap>>10, baseHeap>>10)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after: %d goroutines, %d KiB heap", goroutines, heap>>10)
}

// warmGoroutines starts n goroutines at once and waits for them to end.
func warmGoroutines(n int) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
		}()
	}
	close(release)
	wg.Wait()
}

// settle collects garbage (twice, to empty sync.Pool's victim cache) and
// returns the number of goroutines and the live heap.
func settle() (goroutines int, heap uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}
