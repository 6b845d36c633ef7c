//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsdeck/wsdeck/internal/testkit/cluster"
	"github.com/wsdeck/wsdeck/websocket"
)

// chatEvent is what a chat client keeps of an event: a message's sequence,
// id and text.
type chatEvent struct {
	Seq  uint64 `json:"seq"`
	ID   string `json:"id"`
	Text string `json:"text"`
}

// chatClient is a Go chat client as a page is: it joins through base,
// sends messages with ids, resends one until the server acknowledges it
// (sent), and when its socket drops it reconnects with since, psince and
// epoch from what it has. It keeps every message it receives, in the order
// received, and drops none: a duplicate is the server's fault, and the
// test sees it.
//
// One goroutine runs it (run); the fields are read after run returns.
type chatClient struct {
	name   string
	base   string // ws://host:port
	cookie *http.Cookie

	epoch      string
	seq, pseq  uint64
	msgs       []chatEvent
	origin     []string          // how each of msgs came: the connection, and welcome or live
	acked      map[string]uint64 // id -> seq the server acknowledged
	connects   int
	resends    int
	protoError error // the first breach of the protocol seen
}

// frame is any chat message from the server, as far as the client reads
// it.
type frame struct {
	Type      string            `json:"type"`
	Seq       uint64            `json:"seq"`
	PSeq      uint64            `json:"pseq"`
	Epoch     string            `json:"epoch"`
	ID        string            `json:"id"`
	Text      string            `json:"text"`
	Code      string            `json:"code"`
	Error     string            `json:"error"`
	History   []json.RawMessage `json:"history"`
	Reset     bool              `json:"reset"`
	Truncated bool              `json:"truncated"`
}

// conn is one connection of a chatClient: frames come on in until the
// socket ends, when err is set and in is closed.
type chatConn struct {
	ws  *websocket.Conn
	in  chan frame
	err error
}

// connect joins the chat with what c has, and takes in the welcome.
func (c *chatClient) connect(ctx context.Context) (*chatConn, error) {
	q := url.Values{"nick": {c.name}}
	if c.epoch != "" {
		q.Set("since", strconv.FormatUint(c.seq, 10))
		q.Set("psince", strconv.FormatUint(c.pseq, 10))
		q.Set("epoch", c.epoch)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, c.base+"/ws/chat?"+q.Encode(),
		&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {c.cookie.String()}}})
	if err != nil {
		return nil, err
	}
	c.connects++
	cc := &chatConn{ws: ws, in: make(chan frame, 256)}
	go func() {
		defer close(cc.in)
		for {
			_, p, err := ws.Read(ctx)
			if err != nil {
				cc.err = err
				ws.CloseNow()
				return
			}
			var f frame
			if err := json.Unmarshal(p, &f); err != nil {
				cc.err = fmt.Errorf("bad frame %q: %w", p, err)
				ws.CloseNow()
				return
			}
			cc.in <- f
		}
	}()
	f, ok := <-cc.in
	if !ok {
		return nil, fmt.Errorf("no welcome: %w", cc.err)
	}
	if f.Type == "error" {
		ws.CloseNow()
		for range cc.in {
		}
		return nil, fmt.Errorf("refused: %s: %s", f.Code, f.Error)
	}
	if f.Type != "welcome" {
		c.breach("first frame %q, want a welcome", f.Type)
		return cc, nil
	}
	if f.Reset || f.Truncated {
		c.breach("welcome with reset %v, truncated %v (epoch %s, since %d; had epoch %s)", f.Reset, f.Truncated, f.Epoch, c.seq, c.epoch)
	}
	c.epoch = f.Epoch
	how := fmt.Sprintf("connection %d, the welcome (since %d, seq %d)", c.connects, c.seq, f.Seq)
	for _, raw := range f.History {
		var e frame
		if err := json.Unmarshal(raw, &e); err != nil {
			c.breach("history entry %s: %v", raw, err)
			continue
		}
		c.take(e, how)
	}
	c.seq, c.pseq = max(c.seq, f.Seq), max(c.pseq, f.PSeq)
	return cc, nil
}

// take keeps a message or notes a presence event's sequence.
func (c *chatClient) take(f frame, how string) {
	switch f.Type {
	case "message":
		if f.Seq <= c.seq {
			c.breach("message %d (%s) after %d", f.Seq, f.ID, c.seq)
		}
		c.msgs = append(c.msgs, chatEvent{Seq: f.Seq, ID: f.ID, Text: f.Text})
		c.origin = append(c.origin, how)
		c.seq = max(c.seq, f.Seq)
	case "join", "leave", "nick", "presence":
		c.pseq = max(c.pseq, f.Seq)
	}
}

func (c *chatClient) breach(format string, args ...any) {
	if c.protoError == nil {
		c.protoError = fmt.Errorf("%s: "+format, append([]any{c.name}, args...)...)
	}
}

// run sends n messages, each acknowledged before the next, then reads
// until it has every message up to the sequence that done returns
// (called once every client has sent all of its own), and returns.
// progress is called after each acknowledgement.
func (c *chatClient) run(ctx context.Context, n int, progress func(), last func(ctx context.Context) (uint64, error)) error {
	c.acked = map[string]uint64{}
	var cc *chatConn
	defer func() {
		if cc != nil {
			cc.ws.CloseNow()
			for range cc.in {
			}
		}
	}()
	// reconnect drops cc, if any, and connects again, through the
	// balancer, until it succeeds or ctx ends.
	reconnect := func() error {
		if cc != nil {
			cc.ws.CloseNow()
			for f := range cc.in { // what came before the drop still counts
				c.handle(f)
			}
			cc = nil
		}
		for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
			var err error
			if cc, err = c.connect(ctx); err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: reconnecting: %w (last error: %v)", c.name, ctx.Err(), err)
			case <-time.After(wait): // backoff, as the page's
			}
		}
	}
	if err := reconnect(); err != nil {
		return err
	}
	for i := range n {
		id := fmt.Sprintf("%s-%d", c.name, i)
		text := fmt.Sprintf("%s says %d", c.name, i)
		for sends := 0; ; sends++ {
			if sends > 0 {
				c.resends++
			}
			b, _ := json.Marshal(map[string]string{"type": "send", "id": id, "text": text})
			if err := cc.ws.Write(ctx, websocket.MessageText, b); err != nil {
				if err := reconnect(); err != nil {
					return err
				}
				continue
			}
			ok, err := c.awaitAck(ctx, cc, id)
			if err != nil {
				return err
			}
			if ok {
				break
			}
			if cc.err != nil || !isOpen(cc) {
				if err := reconnect(); err != nil {
					return err
				}
			}
		}
		progress()
	}
	want, err := last(ctx)
	if err != nil {
		return err
	}
	for c.seq < want {
		select {
		case f, ok := <-cc.in:
			if !ok {
				if err := reconnect(); err != nil {
					return err
				}
				continue
			}
			c.handle(f)
		case <-ctx.Done():
			return fmt.Errorf("%s: at seq %d, waiting for %d: %w", c.name, c.seq, want, ctx.Err())
		}
	}
	return nil
}

// isOpen reports whether cc's reader still runs.
func isOpen(cc *chatConn) bool { return cc.err == nil }

// awaitAck reads frames until the server acknowledges id (true), refuses
// it in a way that calls for a resend (false, after a pause for
// unavailable and rate_limited), or the socket ends (false).
func (c *chatClient) awaitAck(ctx context.Context, cc *chatConn, id string) (bool, error) {
	for {
		select {
		case f, ok := <-cc.in:
			if !ok {
				return false, nil
			}
			switch {
			case f.Type == "sent" && f.ID == id:
				c.acked[id] = f.Seq
				return true, nil
			case f.Type == "error" && f.ID == id:
				switch f.Code {
				case "unavailable", "rate_limited":
					select {
					case <-time.After(100 * time.Millisecond):
					case <-ctx.Done():
						return false, ctx.Err()
					}
					return false, nil
				}
				return false, fmt.Errorf("%s: send %s refused: %s: %s", c.name, id, f.Code, f.Error)
			}
			c.handle(f)
		case <-ctx.Done():
			return false, fmt.Errorf("%s: waiting for the ack of %s: %w", c.name, id, ctx.Err())
		}
	}
}

// handle takes a frame that is not the answer awaited.
func (c *chatClient) handle(f frame) {
	switch f.Type {
	case "message", "join", "leave", "nick", "presence":
		c.take(f, fmt.Sprintf("connection %d, live", c.connects))
	case "sent":
		c.acked[f.ID] = f.Seq
	case "error":
		if f.ID == "" { // not about a send: the server says something is wrong
			c.breach("error %s: %s", f.Code, f.Error)
		}
	}
}

// checkChat checks that every client holds the same messages in the same
// order, each once, and among them every message any client had
// acknowledged, under the sequence the acknowledgement gave. It returns
// the sequences of the messages found twice, each pair once.
func checkChat(t *testing.T, clients []*chatClient, extra map[string][]chatEvent) (twice [][2]uint64) {
	t.Helper()
	ref := clients[0].msgs
	seen := map[string]uint64{}
	for i, m := range ref {
		if prev, dup := seen[m.ID]; dup {
			t.Errorf("message %s is in the chat twice: at seq %d and %d", m.ID, prev, m.Seq)
			twice = append(twice, [2]uint64{prev, m.Seq})
		}
		seen[m.ID] = m.Seq
		if i > 0 && m.Seq <= ref[i-1].Seq {
			t.Errorf("seq %d after %d", m.Seq, ref[i-1].Seq)
		}
	}
	acked := 0
	for _, c := range clients {
		if c.protoError != nil {
			t.Error(c.protoError)
		}
		for id, seq := range c.acked {
			acked++
			if got, ok := seen[id]; !ok {
				t.Errorf("%s: message %s was acknowledged (seq %d) and is missing", c.name, id, seq)
			} else if got != seq {
				t.Errorf("%s: message %s was acknowledged as seq %d and is at %d", c.name, id, seq, got)
			}
		}
	}
	lists := map[string][]chatEvent{}
	for _, c := range clients {
		lists[c.name] = c.msgs
	}
	for name, l := range extra {
		lists[name] = l
	}
	origins := map[string][]string{}
	for _, c := range clients {
		origins[c.name] = c.origin
	}
	origins[clients[0].name] = clients[0].origin
	same := true
	for name, l := range lists {
		if d, i := diffChat(ref, l); d != "" {
			same = false
			if o := origins[name]; i > 0 && i < len(o) {
				d += fmt.Sprintf(" (the one before came by %s, this one by %s; %s's by %s)", o[i-1], o[i], clients[0].name, clients[0].origin[i])
			}
			t.Errorf("%s holds other messages than %s: %s", name, clients[0].name, d)
		}
	}
	if same {
		t.Logf("%d messages acknowledged, %d in the chat, the same in all %d clients", acked, len(ref), len(lists))
	}
	return twice
}

// diffChat describes the first difference between two lists of messages,
// by sequence and text (a page does not show ids; every text of the tests
// is unique).
func diffChat(a, b []chatEvent) (string, int) {
	for i := range min(len(a), len(b)) {
		if a[i].Seq != b[i].Seq || a[i].Text != b[i].Text {
			return fmt.Sprintf("at %d: seq %d %q, want seq %d %q", i, b[i].Seq, b[i].Text, a[i].Seq, a[i].Text), i
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d messages, want %d", len(b), len(a)), -1
	}
	return "", -1
}

// chatLoad runs clients, each sending perClient messages, and calls
// faults[k] once k messages of all are acknowledged, in a goroutine of its
// own. It returns when every client has every message, or the first
// errors when ctx ends. It does not use a testing.T, so that a test may
// run it beside its own steps.
func chatLoad(ctx context.Context, clients []*chatClient, perClient int, faults map[int]func()) error {
	var mu sync.Mutex
	total := 0
	var faultsDone sync.WaitGroup
	progress := func() {
		mu.Lock()
		total++
		k := total
		mu.Unlock()
		if f, ok := faults[k]; ok { // only this call sees k
			faultsDone.Go(f)
		}
	}
	// last waits until every client has sent all it had to, and returns
	// the highest sequence acknowledged: what every client must reach.
	var sentAll sync.WaitGroup
	sentAll.Add(len(clients))
	var lastMu sync.Mutex
	var lastSeq uint64
	last := func(ctx context.Context) (uint64, error) {
		sentAll.Done()
		done := make(chan struct{})
		go func() { sentAll.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		lastMu.Lock()
		defer lastMu.Unlock()
		if lastSeq == 0 { // the first here reads every client's acks: all are waiting on lastMu
			for _, c := range clients {
				for _, seq := range c.acked {
					lastSeq = max(lastSeq, seq)
				}
			}
		}
		return lastSeq, nil
	}
	errs := make(chan error, len(clients))
	for _, c := range clients {
		go func() { errs <- c.run(ctx, perClient, progress, last) }()
	}
	var all []error
	for range clients {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	faultsDone.Wait()
	return errors.Join(all...)
}

// chatClients logs n clients in through base, each with a session of its
// own.
func chatClients(t *testing.T, n int, base string) []*chatClient {
	t.Helper()
	var cs []*chatClient
	for i := range n {
		cs = append(cs, &chatClient{
			name:   fmt.Sprintf("go%02d", i+1),
			base:   "ws" + strings.TrimPrefix(base, "http"),
			cookie: login(t, base),
		})
	}
	return cs
}

// testChatUnderFaults: 50 Go clients, each with a session of its own and
// connected through HAProxy (so spread over the nodes by round robin),
// send 10,000 messages, each resent until acknowledged, and a page in
// headless Chromium, also through HAProxy, says a few and watches; after a
// third of them a wsdeck node is killed with SIGKILL, after two thirds the
// NATS server that leads the chat stream. Clients whose socket drops
// reconnect through HAProxy with since=, psince= and epoch= (the page by
// itself). In the end every client, and the page, holds every
// acknowledged message exactly once, all in the same order.
func testChatUnderFaults(t *testing.T, nats *cluster.NATS, nodes []*cluster.Node, lb *cluster.HAProxy, b *browser, logs string) {
	const nClients, perClient, pageSays = 50, 200, 5
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What the parts knew when it failed.
		if err := nats.SaveJSZ(logs); err != nil {
			t.Log(err)
		}
		for _, n := range nodes {
			n.DumpStacks()
		}
		t.Logf("the nodes' goroutines are at the end of their logs, the NATS servers' /jsz in %s", logs)
	})
	clients := chatClients(t, nClients, lb.Base)

	page := b.newPage(t, "page")
	page.login(t, lb.Base+"/?token="+clusterToken)
	page.setNick(t, "page")
	// Every message the page shows, in the order shown (it keeps the
	// last 2000 on screen; this keeps all).
	eval[bool](t, page, `(() => {
		window.seen = [];
		new MutationObserver((records) => {
			for (const r of records) for (const n of r.addedNodes) {
				if (n.dataset?.type === "message") window.seen.push({seq: +n.dataset.seq, text: n.querySelector(".text").textContent});
			}
		}).observe(document.getElementById("messages"), {childList: true, subtree: true});
		return true;
	})()`)

	// The page says its messages first: typing into a page that renders
	// hundreds of messages a second on a loaded machine is slow.
	for i := range pageSays {
		page.say(t, fmt.Sprintf("page says %d", i))
	}
	page.waitMessage(t, "page", fmt.Sprintf("page says %d", pageSays-1))

	victim := nodes[1]
	var faultLog []string
	var faultMu sync.Mutex
	note := func(format string, args ...any) {
		faultMu.Lock()
		defer faultMu.Unlock()
		faultLog = append(faultLog, fmt.Sprintf(format, args...))
	}
	start := time.Now()
	load := make(chan error, 1)
	go func() {
		load <- chatLoad(ctx, clients, perClient, map[int]func(){
			nClients * perClient / 3: func() {
				victim.Kill()
				note("%v: node %s killed", time.Since(start).Round(time.Millisecond), victim.Name)
			},
			2 * nClients * perClient / 3: func() {
				s, err := nats.StreamLeader("chat")
				if err != nil {
					note("no NATS server killed: %v", err)
					return
				}
				s.Kill()
				note("%v: NATS server %s (leader of the chat stream) killed", time.Since(start).Round(time.Millisecond), s.Name)
			},
		})
	}()
	if err := <-load; err != nil {
		t.Fatal(err)
	}
	for _, l := range faultLog {
		t.Log(l)
	}
	if len(faultLog) != 2 || strings.HasPrefix(faultLog[1], "no NATS") {
		t.Errorf("faults: %v", faultLog)
	}
	connects, resends := 0, 0
	for _, c := range clients {
		connects += c.connects
		resends += c.resends
	}
	t.Logf("%d messages in %v; %d connections for %d clients, %d resends", nClients*perClient,
		time.Since(start).Round(time.Millisecond), connects, nClients, resends)
	if connects <= nClients {
		t.Errorf("no client reconnected: the node killed served none")
	}

	ref := clients[0].msgs
	said := 0
	for _, m := range ref {
		if strings.HasPrefix(m.Text, "page says ") {
			said++
		}
	}
	if said != pageSays {
		t.Errorf("the chat holds %d of the page's %d messages", said, pageSays)
	}
	last := ref[len(ref)-1].Seq
	if _, err := chromedp.Run(page.step(t), chromedp.Poll[bool](fmt.Sprintf(`window.seen.length > 0 && window.seen[window.seen.length-1].seq >= %d`, last),
		chromedp.WithPollingTimeout(stepTimeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		state := eval[string](t, page, `JSON.stringify({shown: window.seen.length, last: window.seen.at(-1),
			state: wsdeck.chat.channel.state, connects: wsdeck.chat.channel.connects, lastClose: wsdeck.chat.channel.lastClose,
			notices: [...document.querySelectorAll("#messages li:not([data-type])")].map(li => li.textContent).slice(-5)})`)
		t.Fatalf("the page does not reach seq %d: %v; it has %s", last, err, state)
	}
	t.Logf("the page reconnected %d times", eval[int](t, page, "wsdeck.chat.channel.connects")-1)
	twice := checkChat(t, clients, map[string][]chatEvent{"page": eval[[]chatEvent](t, page, "window.seen")})
	// Both copies of the first few, as the stream holds them: when each
	// was stored, and under which message id.
	var seqs []uint64
	for _, p := range twice[:min(len(twice), 5)] {
		seqs = append(seqs, p[:]...)
	}
	if len(seqs) > 0 {
		entries, err := nats.Entries(ctx, "chat", seqs)
		for _, e := range entries {
			t.Log(e)
		}
		if err != nil {
			t.Log(err)
		}
	}
}
