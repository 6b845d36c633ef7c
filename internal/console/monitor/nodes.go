package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// putSelf writes this node's entry in the node list.
func (m *Monitor) putSelf(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	b, _ := json.Marshal(NodeInfo{
		Name:       m.opts.Node,
		IntervalMS: m.opts.Interval.Milliseconds(),
		Started:    m.started,
		Updated:    time.Now().UTC(),
	})
	if _, err := m.nodes.Put(ctx, m.opts.Node, b); err != nil {
		return fmt.Errorf("monitor: node list: %w", err)
	}
	return nil
}

// nodeChanged takes a change of the node list; a node joining or leaving
// is told to every viewer on this node.
func (m *Monitor) nodeChanged(e engine.Entry) {
	m.mu.Lock()
	_, had := m.list[e.Key]
	if e.Op == engine.OpPut {
		var info NodeInfo
		if err := json.Unmarshal(e.Value, &info); err != nil || info.Name != e.Key {
			m.mu.Unlock()
			m.log.Warn("monitor: bad entry in the node list", "key", e.Key, "err", err)
			return
		}
		m.list[e.Key] = listed{info: info, seen: time.Now()}
	} else {
		delete(m.list, e.Key)
	}
	_, has := m.list[e.Key]
	if had != has {
		m.sendNodesLocked()
	}
	m.mu.Unlock()
}

// pruneNodes forgets the nodes not heard of for three Beats: they stopped
// without taking themselves out, and their entries have lapsed.
func (m *Monitor) pruneNodes() {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for name, l := range m.list {
		if time.Since(l.seen) > 3*m.opts.Beat && name != m.opts.Node {
			delete(m.list, name)
			changed = true
		}
	}
	if changed {
		m.sendNodesLocked()
	}
}

// Nodes returns the node list, sorted by name.
func (m *Monitor) Nodes() []NodeInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nodeListLocked()
}

func (m *Monitor) nodeListLocked() []NodeInfo {
	out := make([]NodeInfo, 0, len(m.list)+1)
	self := false
	for _, l := range m.list {
		out = append(out, l.info)
		self = self || l.info.Name == m.opts.Node
	}
	if !self { // not yet seen back from the bucket, or the engine is away
		out = append(out, NodeInfo{Name: m.opts.Node, IntervalMS: m.opts.Interval.Milliseconds(), Started: m.started})
	}
	slices.SortFunc(out, func(a, b NodeInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// sendNodesLocked sends the node list to every viewer on this node.
func (m *Monitor) sendNodesLocked() {
	if len(m.viewers) == 0 {
		return
	}
	b, _ := json.Marshal(Nodes{Type: "nodes", Nodes: m.nodeListLocked()})
	for v := range m.viewers {
		v.SendOwn(b)
	}
}

// lookup returns what the node list says of node: from this node's copy,
// else from the bucket (a node that has just started). ok is false if the
// console has no such node; err is the engine's.
func (m *Monitor) lookup(ctx context.Context, node string) (info NodeInfo, ok bool, err error) {
	if node == m.opts.Node {
		return NodeInfo{Name: node, IntervalMS: m.opts.Interval.Milliseconds(), Started: m.started}, true, nil
	}
	m.mu.Lock()
	l, ok := m.list[node]
	m.mu.Unlock()
	if ok {
		return l.info, true, nil
	}
	e, err := m.nodes.Get(ctx, node)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return NodeInfo{}, false, nil
	case err != nil:
		return NodeInfo{}, false, fmt.Errorf("monitor: node list: %w", err)
	}
	if err := json.Unmarshal(e.Value, &info); err != nil {
		return NodeInfo{}, false, nil
	}
	return info, true, nil
}
