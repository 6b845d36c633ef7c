package socket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket"
)

// testTimeout bounds every wait in these tests: generous, for a loaded
// machine; nothing here measures time.
const testTimeout = 30 * time.Second

// harness is a server running one Conn per connection.
type harness struct {
	url   string
	conns chan *Conn // each server-side Conn, once it runs
	ended chan error // what each Run returned
	ctx   context.Context
	stop  context.CancelFunc // ends every Run with 1001
}

// serve starts a server whose connections run a Conn with opts; handler
// makes the Handler of each.
func serve(t *testing.T, opts Options, handler func(c *Conn) Handler) *harness {
	t.Helper()
	h := &harness{conns: make(chan *Conn, 16), ended: make(chan error, 16)}
	h.ctx, h.stop = context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{CloseTimeout: testTimeout}})
		if err != nil {
			return
		}
		c := New(ws, opts)
		h.conns <- c
		h.ended <- c.Run(h.ctx, handler(c))
	}))
	t.Cleanup(func() {
		h.stop()
		srv.Close()
	})
	h.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return h
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func (h *harness) conn(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-h.conns:
		return c
	case <-time.After(testTimeout):
		t.Fatal("the server got no connection")
		return nil
	}
}

func readJSON(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	typ, p, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("got a %v message, want text", typ)
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatalf("not JSON: %q", p)
	}
	return m
}

func write(t *testing.T, c *websocket.Conn, typ websocket.MessageType, p string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Write(ctx, typ, []byte(p)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// echoHandler answers "ping" with {"type":"pong","id":ID} and refuses
// every other type.
func echoHandler(c *Conn) Handler {
	return func(m Message) error {
		if m.Type != "ping" {
			return UnknownType(m.Type)
		}
		c.SendJSON(map[string]string{"type": "pong", "id": m.ID})
		return nil
	}
}

func TestBadMessagesGetAnErrorAndTheConnectionGoesOn(t *testing.T) {
	t.Parallel()
	h := serve(t, Options{}, echoHandler)
	c := dial(t, h.url)
	tests := []struct {
		name     string
		typ      websocket.MessageType
		msg      string
		wantCode string
		wantID   string
	}{
		{"not JSON", websocket.MessageText, "hello", CodeBadJSON, ""},
		{"truncated JSON", websocket.MessageText, `{"type":"pi`, CodeBadJSON, ""},
		{"JSON array", websocket.MessageText, `[1,2]`, CodeBadJSON, ""},
		{"type not a string", websocket.MessageText, `{"type":5}`, CodeBadJSON, ""},
		{"no type", websocket.MessageText, `{"id":"a1","text":"x"}`, CodeBadMessage, "a1"},
		{"empty type", websocket.MessageText, `{"type":""}`, CodeBadMessage, ""},
		{"binary", websocket.MessageBinary, `{"type":"ping"}`, CodeBadMessage, ""},
		{"unknown type", websocket.MessageText, `{"type":"launch","id":"7"}`, CodeUnknownType, "7"},
	}
	for _, tt := range tests {
		write(t, c, tt.typ, tt.msg)
		m := readJSON(t, c)
		if m["type"] != "error" || m["code"] != tt.wantCode || m["error"] == "" {
			t.Errorf("%s: got %v, want an error with code %s", tt.name, m, tt.wantCode)
		}
		if id, _ := m["id"].(string); id != tt.wantID {
			t.Errorf("%s: error id %q, want %q", tt.name, id, tt.wantID)
		}
	}
	// Still connected, and still served.
	write(t, c, websocket.MessageText, `{"type":"ping","id":"last"}`)
	if m := readJSON(t, c); m["type"] != "pong" || m["id"] != "last" {
		t.Errorf("after the bad messages: %v, want the pong", m)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	const rate, burst, sent = 1, 3, 30
	h := serve(t, Options{Rate: rate, Burst: burst}, echoHandler)
	c := dial(t, h.url)
	start := time.Now()
	for i := 0; i < sent; i++ {
		write(t, c, websocket.MessageText, `{"type":"ping"}`)
	}
	var pongs, limited int
	for i := 0; i < sent; i++ {
		switch m := readJSON(t, c); {
		case m["type"] == "pong":
			pongs++
		case m["type"] == "error" && m["code"] == CodeRateLimited:
			limited++
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	elapsed := time.Since(start)
	// The bucket lets through the burst and then rate a second: an
	// upper bound that holds however slow the machine is.
	if most := burst + int(elapsed.Seconds()*rate) + 1; pongs > most || pongs < burst {
		t.Errorf("%d of %d messages went through in %v, want %d to %d", pongs, sent, elapsed, burst, most)
	}
	if limited != sent-pongs {
		t.Errorf("%d rate_limited errors, want %d", limited, sent-pongs)
	}
}

func TestSlowConsumerIsClosedWithItsCode(t *testing.T) {
	t.Parallel()
	const queue = 4
	h := serve(t, Options{QueueSize: queue}, echoHandler)
	c := dial(t, h.url) // and does not read for now
	sc := h.conn(t)
	frame := []byte(`"` + strings.Repeat("x", 32<<10) + `"`)
	pm, _ := websocket.NewPreparedMessage(websocket.MessageText, frame)
	queued := 0
	for sc.Send(pm) {
		if queued++; queued > 1e6 {
			t.Fatal("the queue never filled")
		}
	}
	select {
	case <-sc.Done():
	default:
		t.Fatal("Send reported a full queue but the connection is not closing")
	}
	if sc.Send(pm) || sc.SendOwn(frame) {
		t.Error("a closing connection took a frame")
	}
	// The client reads what was written before, then the close frame.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != CloseSlowConsumer || !strings.Contains(ce.Reason, "too slow") {
			t.Fatalf("read ended with %v, want a close frame %d (too slow)", err, CloseSlowConsumer)
		}
		break
	}
	select {
	case err := <-h.ended:
		if err == nil || !strings.Contains(err.Error(), "4000") {
			t.Errorf("Run returned %v, want the slow-consumer close", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Run did not return")
	}
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	t.Parallel()
	h := serve(t, Options{}, echoHandler)
	c := dial(t, h.url)
	h.conn(t)
	h.stop()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, _, err := c.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
		t.Fatalf("read ended with %v, want close code 1001", err)
	}
	select {
	case <-h.ended:
	case <-time.After(testTimeout):
		t.Fatal("Run did not return")
	}
}

// TestShutdownWritesWhatWasQueued: what the server sent before it shut
// down (a job's end, say) reaches the client before the 1001, even when
// the writer is far behind: here both ends of the TCP connection have
// small buffers and the client reads nothing until the shutdown began, so
// nearly every frame is still waiting to be written then.
func TestShutdownWritesWhatWasQueued(t *testing.T) {
	t.Parallel()
	const frames, bufSize = 64, 16 << 10
	conns := make(chan *Conn, 1)
	ended := make(chan error, 1)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{CloseTimeout: testTimeout}})
		if err != nil {
			return
		}
		c := New(ws, Options{QueueSize: frames})
		conns <- c
		ended <- c.Run(ctx, echoHandler(c))
	}))
	srv.Listener = smallBuffers{srv.Listener, bufSize}
	srv.Start()
	defer srv.Close()

	dctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				nc.(*net.TCPConn).SetReadBuffer(bufSize)
			}
			return nc, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var sc *Conn
	select {
	case sc = <-conns:
	case <-time.After(testTimeout):
		t.Fatal("the server got no connection")
	}
	pad := strings.Repeat("x", 4*bufSize)
	for i := range frames {
		if !sc.SendOwn([]byte(fmt.Sprintf(`{"type":"frame","n":%d,"pad":%q}`, i, pad))) {
			t.Fatalf("frame %d not queued", i)
		}
	}
	stop()
	for n := 0; ; n++ {
		_, p, err := c.Read(dctx)
		if err != nil {
			if n != frames || websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("after %d of %d frames the read ended with %v, want every frame, then 1001", n, frames, err)
			}
			break
		}
		if !strings.HasPrefix(string(p), fmt.Sprintf(`{"type":"frame","n":%d,`, n)) {
			t.Fatalf("frame %d: %.40s", n, p)
		}
	}
	select {
	case <-ended:
	case <-time.After(testTimeout):
		t.Fatal("Run did not return")
	}
}

// smallBuffers is a listener whose connections have a small send buffer.
type smallBuffers struct {
	net.Listener
	size int
}

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(l.size)
	}
	return c, err
}

func TestHandlerErrorsAreSentBack(t *testing.T) {
	t.Parallel()
	h := serve(t, Options{}, func(c *Conn) Handler {
		return func(m Message) error {
			if m.Type == "plain" {
				return errors.New("disk on fire")
			}
			return Errorf(CodeInvalid, "bad %s", m.Type)
		}
	})
	c := dial(t, h.url)
	write(t, c, websocket.MessageText, `{"type":"plain","id":"p"}`)
	if m := readJSON(t, c); m["code"] != CodeInternal || m["error"] != "disk on fire" || m["for"] != "plain" || m["id"] != "p" {
		t.Errorf("plain error: %v", m)
	}
	write(t, c, websocket.MessageText, `{"type":"thing"}`)
	if m := readJSON(t, c); m["code"] != CodeInvalid || m["error"] != "bad thing" {
		t.Errorf("*Error: %v", m)
	}
}

func TestBucket(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	b := newBucket(2, 3, t0)
	for i := 0; i < 3; i++ {
		if !b.allow(t0) {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if b.allow(t0) {
		t.Fatal("a message over the burst went through")
	}
	if !b.allow(t0.Add(500 * time.Millisecond)) { // 2 a second: one token in 0.5 s
		t.Fatal("refilled token refused")
	}
	if b.allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("a second message at the same time went through")
	}
	if got := b.tokens; got != 0 {
		t.Fatalf("tokens %v, want 0", got)
	}
	b.allow(t0.Add(time.Hour))
	if b.tokens != 2 { // capped at the burst, less the one taken
		t.Fatalf("tokens %v after an hour, want burst-1 = 2", b.tokens)
	}
	unlimited := newBucket(-1, 0, t0)
	for i := 0; i < 1000; i++ {
		if !unlimited.allow(t0) {
			t.Fatal("no limit refused a message")
		}
	}
}

// writers counts the goroutines writing a connection's frames.
func writers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "socket.(*Conn).writeLoop(")
}

// An idle connection keeps no writer: one starts when frames are queued
// and returns once they are written. Not parallel: it counts the writers
// of the whole process.
func TestWriterRunsOnlyWhileFramesWait(t *testing.T) {
	h := serve(t, Options{}, echoHandler)
	c := dial(t, h.url)
	sc := h.conn(t)
	for round := range 3 {
		for i := range 10 {
			if !sc.SendOwn([]byte(fmt.Sprintf(`{"type":"n","n":%d}`, i))) {
				t.Fatal("frame not queued")
			}
		}
		for i := range 10 {
			if m := readJSON(t, c); m["n"] != float64(i) {
				t.Fatalf("round %d: frame %v, want n=%d", round, m, i)
			}
		}
		deadline := time.Now().Add(testTimeout)
		for writers() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d writers left on an idle connection", round, writers())
			}
			time.Sleep(time.Millisecond)
		}
	}
	// The reader still answers, through a writer started anew.
	write(t, c, websocket.MessageText, `{"type":"ping","id":"p"}`)
	if m := readJSON(t, c); m["type"] != "pong" || m["id"] != "p" {
		t.Fatalf("reply %v, want the pong", m)
	}
}

// idleWriterGoroutines counts the writer goroutines waiting for a
// connection to write for.
func idleWriterGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "socket.writer(") && !strings.Contains(g, "socket.(*Conn).writeLoop(") {
			n++
		}
	}
	return n
}

// A writer that has written one connection's frames writes the next
// connection's, rather than a new goroutine starting for each: after the
// first connection, a broadcast to many starts none. Not parallel: it counts
// the writers of the whole process.
func TestWritersAreReused(t *testing.T) {
	h := serve(t, Options{}, echoHandler)
	const conns = 5
	clients := make([]*websocket.Conn, conns)
	servers := make([]*Conn, conns)
	for i := range conns {
		clients[i] = dial(t, h.url)
		servers[i] = h.conn(t)
	}
	for i := range conns {
		// One connection at a time, each once the previous writer is
		// idle again: every write finds that writer waiting.
		if !servers[i].SendOwn([]byte(fmt.Sprintf(`{"type":"n","n":%d}`, i))) {
			t.Fatal("frame not queued")
		}
		if m := readJSON(t, clients[i]); m["n"] != float64(i) {
			t.Fatalf("conn %d: frame %v", i, m)
		}
		deadline := time.Now().Add(testTimeout)
		for writers() != 0 || idleWriterGoroutines() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("conn %d: %d writing, %d idle writers", i, writers(), idleWriterGoroutines())
			}
			time.Sleep(time.Millisecond)
		}
		if n := idleWriterGoroutines(); n != 1 {
			t.Fatalf("after conn %d: %d idle writer goroutines, want the one reused", i, n)
		}
	}
}

// Keepalive: a client that answers pings keeps its connection; one that
// stops reading (so answers none) is cut once PingTimeout passes, and Run
// says why.
func TestKeepalive(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	t.Run("answered", func(t *testing.T) {
		t.Parallel()
		h := serve(t, Options{PingInterval: interval, PingTimeout: testTimeout}, echoHandler)
		c := dial(t, h.url)
		sc := h.conn(t)
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		deadline := time.Now().Add(testTimeout)
		for sc.pongs.Load() < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("%d pings answered", sc.pongs.Load())
			}
			select {
			case err := <-h.ended:
				t.Fatalf("Run ended with %v while the client answered", err)
			case <-time.After(interval):
			}
		}
		select {
		case err := <-h.ended:
			t.Fatalf("Run ended with %v while the client answered", err)
		default:
		}
	})
	t.Run("unanswered", func(t *testing.T) {
		t.Parallel()
		h := serve(t, Options{PingInterval: interval, PingTimeout: interval}, echoHandler)
		dial(t, h.url) // and never reads
		h.conn(t)
		select {
		case err := <-h.ended:
			if err == nil || !strings.Contains(err.Error(), "no pong") {
				t.Errorf("Run returned %v, want no pong", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("a client that answers no ping was kept")
		}
	})
}

// TestBroadcastsAndOwnFramesKeepTheirOrder: runs of broadcasts (written
// several at a time) and frames of the connection's own, queued in one
// burst, reach the client each once, in the order they were queued.
func TestBroadcastsAndOwnFramesKeepTheirOrder(t *testing.T) {
	t.Parallel()
	const frames = 300
	var pms [frames]*websocket.PreparedMessage
	for i := range pms {
		pms[i], _ = websocket.NewPreparedMessage(websocket.MessageText, fmt.Appendf(nil, `{"type":"b","n":%d}`, i))
	}
	h := serve(t, Options{QueueSize: frames}, func(c *Conn) Handler {
		return func(m Message) error {
			for i := range frames {
				ok := false
				if i%50 == 7 || i%50 == 8 { // own frames between runs of broadcasts
					ok = c.SendOwn(fmt.Appendf(nil, `{"type":"o","n":%d}`, i))
				} else {
					ok = c.Send(pms[i])
				}
				if !ok {
					return fmt.Errorf("frame %d not queued", i)
				}
			}
			return nil
		}
	})
	c := dial(t, h.url)
	write(t, c, websocket.MessageText, `{"type":"go"}`)
	for i := range frames {
		m := readJSON(t, c)
		if n, _ := m["n"].(float64); int(n) != i {
			t.Fatalf("frame %d: got %v", i, m)
		}
	}
}
