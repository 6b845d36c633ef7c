package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/websocket"
)

// A Viewer is where the monitor sends a viewer's frames: *socket.Conn is
// one. Neither method may block.
type Viewer interface {
	Send(pm *websocket.PreparedMessage) bool
	SendOwn(b []byte) bool
}

// ServeSocket runs a viewer's connection. The query's node names the node
// to show ("" means this one); a bad or unknown name gets an invalid error
// after the backfill, and this node is shown. Viewers send nothing; any
// message gets an error back. When the engine cannot be reached the viewer
// gets an unavailable error and the connection is closed with 1001 (going
// away: come back later).
func (m *Monitor) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	_, nodeErr, err := m.Watch(ctx, c, r.URL.Query().Get("node"))
	if err != nil {
		return c.Refuse(ctx, unavailable(err))
	}
	defer m.Unwatch(c)
	if nodeErr != nil {
		c.SendError("", "", socket.Errorf(socket.CodeInvalid, "%v", nodeErr))
	}
	return c.Run(ctx, func(msg socket.Message) error { return socket.UnknownType(msg.Type) })
}

// Watch adds viewer v, showing node ("" means this node): v gets a
// Backfill of node's samples of the last History, then each later one as
// it is stored, once and in order, then a Nodes message whenever a node
// joins or leaves. node samples as long as v watches. A name that
// CheckNode refuses, or of no node in the list, is refused with nodeErr,
// and v is shown this node. err is the engine's, or ErrShutdown; then v
// is not added. Watching a viewer already added does nothing.
func (m *Monitor) Watch(ctx context.Context, v Viewer, node string) (shown string, nodeErr, err error) {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	info := NodeInfo{Name: m.opts.Node, IntervalMS: m.opts.Interval.Milliseconds()}
	if node != "" && node != m.opts.Node {
		if nodeErr = CheckNode(node); nodeErr == nil {
			got, ok, err := m.lookup(ctx, node)
			if err != nil {
				return "", nil, err
			}
			if ok {
				info = got
			} else {
				nodeErr = fmt.Errorf("no node %q in the console", node)
			}
		}
		if nodeErr != nil {
			nodeErr = fmt.Errorf("%w: showing %s", nodeErr, m.opts.Node)
		}
	}
	node = info.Name
	m.mu.Lock()
	_, dup := m.viewers[v]
	m.mu.Unlock()
	if dup {
		return node, nodeErr, nil
	}
	t, err := m.topic(node)
	if err != nil {
		return "", nil, err
	}
	if err := m.want(ctx, node); err != nil {
		return "", nil, err
	}
	interval := time.Duration(max(info.IntervalMS, 1)) * time.Millisecond
	from := topic.From{
		Since: time.Now().Add(-m.opts.History),
		Max:   int(m.opts.History/min(interval, m.opts.Interval)) + 16,
	}
	err = t.Join(ctx, v, from, func(b topic.Backlog) {
		samples := make([]json.RawMessage, 0, len(b.Msgs))
		for _, msg := range b.Msgs {
			if json.Valid(msg.Data) { // what another program may have put there is left out
				samples = append(samples, msg.Data)
			}
		}
		m.mu.Lock()
		m.viewers[v] = node
		bf := Backfill{
			Type:       "backfill",
			Node:       node,
			Self:       m.opts.Node,
			Nodes:      m.nodeListLocked(),
			IntervalMS: interval.Milliseconds(),
			HistoryMS:  m.opts.History.Milliseconds(),
			Samples:    samples,
		}
		out, err := json.Marshal(bf)
		if err != nil {
			panic(err) // a Backfill always encodes: its samples were stored as JSON
		}
		// Queued before m.mu is let go: a node list sent from now on
		// (sendNodesLocked, under m.mu) comes after it, never first.
		v.SendOwn(out)
		m.mu.Unlock()
	})
	if err != nil {
		m.unwant(node)
		return "", nil, fmt.Errorf("monitor: %w", err)
	}
	return node, nodeErr, nil
}

// Unwatch removes viewer v: it gets nothing more once Unwatch returns.
// The last viewer of a node, here, withdraws this node's demand for its
// samples. Unwatching a viewer not added does nothing.
func (m *Monitor) Unwatch(v Viewer) {
	m.mu.Lock()
	node, ok := m.viewers[v]
	delete(m.viewers, v)
	t := m.topics[node]
	m.mu.Unlock()
	if !ok {
		return
	}
	if t != nil {
		t.Leave(v)
	}
	m.unwant(node)
}

// Viewers returns the number of viewers on this node.
func (m *Monitor) Viewers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.viewers)
}

// topic returns node's topic, made on first use.
func (m *Monitor) topic(node string) (*topic.Topic, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrShutdown
	}
	t, ok := m.topics[node]
	if !ok {
		t = topic.New(m.stream, topic.Options{Subject: sampleSubject(node), Encode: encodeSample, Log: m.log})
		m.topics[node] = t
	}
	return t, nil
}

// encodeSample turns a stored sample into the message viewers get.
func encodeSample(msg engine.Msg) ([]byte, error) {
	if !json.Valid(msg.Data) {
		return nil, errors.New("not JSON")
	}
	return json.Marshal(sampleMessage{Type: "sample", Sample: msg.Data})
}

// want counts a viewer of node here; the first one writes the demand key
// that makes node sample. The error is the engine's; then nothing is
// counted.
func (m *Monitor) want(ctx context.Context, node string) error {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	m.mu.Lock()
	first := m.wanted[node] == 0
	m.wanted[node]++
	m.mu.Unlock()
	if !first {
		return nil
	}
	if _, err := m.demand.Put(ctx, demandKey(node, m.opts.Node), nil); err != nil {
		m.mu.Lock()
		if m.wanted[node]--; m.wanted[node] == 0 {
			delete(m.wanted, node)
		}
		m.mu.Unlock()
		return fmt.Errorf("monitor: asking %s to sample: %w", node, err)
	}
	return nil
}

// unwant uncounts a viewer of node here; the last one deletes the demand
// key. Should the delete fail, the key lapses.
func (m *Monitor) unwant(node string) {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	m.mu.Lock()
	m.wanted[node]--
	last := m.wanted[node] <= 0
	if last {
		delete(m.wanted, node)
		delete(m.failing, node)
	}
	m.mu.Unlock()
	if !last {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	if err := m.demand.Delete(ctx, demandKey(node, m.opts.Node)); err != nil {
		m.log.Debug("monitor: demand key not deleted; it lapses", "node", node, "err", err)
	}
}

// refreshDemand rewrites the demand keys of the nodes viewed here. A
// node's viewers are told, once, when its key cannot be written: the
// engine is away, and the samples stop until it is back.
func (m *Monitor) refreshDemand(ctx context.Context) {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	m.mu.Lock()
	nodes := make([]string, 0, len(m.wanted))
	for n := range m.wanted {
		nodes = append(nodes, n)
	}
	m.mu.Unlock()
	for _, n := range nodes {
		pctx, cancel := context.WithTimeout(ctx, m.opts.Beat)
		_, err := m.demand.Put(pctx, demandKey(n, m.opts.Node), nil)
		cancel()
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		was := m.failing[n]
		if _, ok := m.wanted[n]; ok {
			m.failing[n] = err != nil
		}
		if err != nil && !was {
			b, _ := json.Marshal(errorMessage{Type: "error", Code: CodeUnavailable,
				Error: fmt.Sprintf("monitor storage unavailable (%v): the samples of %s stop until it is back", err, n)})
			for v, vn := range m.viewers {
				if vn == n {
					v.SendOwn(b)
				}
			}
		}
		m.mu.Unlock()
	}
}

// errorMessage is an error message as socket.Conn.SendError writes it.
type errorMessage struct {
	Type  string `json:"type"` // "error"
	Code  string `json:"code"`
	Error string `json:"error"`
}

// unavailable returns err as a *socket.Error: CodeUnavailable if the
// engine could not be reached, CodeInternal otherwise.
func unavailable(err error) error {
	switch {
	case errors.Is(err, engine.ErrDisconnected), errors.Is(err, engine.ErrUnavailable),
		errors.Is(err, engine.ErrClosed), errors.Is(err, ErrShutdown), errors.Is(err, topic.ErrClosed),
		errors.Is(err, context.DeadlineExceeded):
		return socket.Errorf(CodeUnavailable, "monitor storage unavailable (%v); try again", err)
	}
	return socket.Errorf(socket.CodeInternal, "monitor: %v", err)
}
