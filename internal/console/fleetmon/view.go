package fleetmon

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// A Viewer is where a page's frames go: *socket.Conn is one. SendOwn must
// not block.
type Viewer interface {
	SendOwn(b []byte) bool
}

// viewer is one page watching a set of hosts.
type viewer struct {
	out    Viewer
	hosts  []string // hostexpr.Host.String() of each, in frame order
	toks   []string
	detail string // guarded by Fleet.mu: the token whose full record goes in each Tick
}

// recorded takes a record stored by any node's sampler.
func (f *Fleet) recorded(m engine.Msg) {
	if len(m.Subject) <= len("fleet.h.") {
		return
	}
	tok := tokenOfSubject(m.Subject)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wanted[tok] == 0 {
		return // nobody here watches it
	}
	var rec Record
	if err := json.Unmarshal(m.Data, &rec); err != nil {
		return
	}
	if old := f.latest[tok]; old != nil && rec.State != StateUp && old.State == StateUp && rec.Time-old.Time < f.opts.Down.Milliseconds() {
		// A failed reconnect while the last sample is still fresh: keep
		// the figures, the state follows their age.
		old.Why, old.Err = rec.Why, rec.Err
		return
	}
	f.latest[tok] = &rec
}

// state returns the state of a record as of now.
func (f *Fleet) state(rec *Record, now int64) string {
	if rec == nil {
		return StatePending
	}
	if rec.State != StateUp {
		return rec.State
	}
	switch age := now - rec.Time; {
	case age > f.opts.Down.Milliseconds():
		return StateDown
	case age > f.opts.Stale.Milliseconds():
		return StateStale
	}
	return StateUp
}

// ticks sends every viewer its frame each Interval.
func (f *Fleet) ticks(ctx context.Context) {
	defer f.loops.Done()
	t := time.NewTicker(f.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		vs := make([]*viewer, 0, len(f.viewers))
		for v := range f.viewers {
			vs = append(vs, v)
		}
		f.mu.Unlock()
		for _, v := range vs {
			v.out.SendOwn(f.tick(v))
		}
	}
}

// tick encodes v's frame now.
func (f *Fleet) tick(v *viewer) []byte {
	now := time.Now().UnixMilli()
	tk := Tick{Type: "tick", Time: now, Cells: make([][7]float64, len(v.toks))}
	f.mu.Lock()
	for i, tok := range v.toks {
		rec := f.latest[tok]
		st := f.state(rec, now)
		c := &tk.Cells[i]
		*c = [7]float64{stateCode(st), -1, -1, -1, -1, -1, -1}
		switch st {
		case StateUp:
			tk.Counts[0]++
		case StateStale:
			tk.Counts[1]++
		default:
			tk.Counts[2]++
		}
		if rec != nil && rec.Fig != nil && (st == StateUp || st == StateStale) {
			fg := rec.Fig
			if fg.Rates {
				c[1], c[4], c[5] = fg.CPU, round(fg.RxRate), round(fg.TxRate)
			}
			if fg.MemTotal > 0 {
				c[2] = pct(fg.MemUsed, fg.MemTotal)
			}
			c[3] = fg.Load[0]
			if fg.HasDisk && fg.DiskTotal > 0 {
				c[6] = pct(fg.DiskUsed, fg.DiskTotal)
			}
		}
		if tok == v.detail && rec != nil {
			r := *rec
			r.State = st
			tk.Detail = &r
		}
	}
	f.mu.Unlock()
	b, _ := json.Marshal(tk)
	return b
}

func pct(a, b uint64) float64 { return float64(int(1000*float64(a)/float64(b))) / 10 }
func round(x float64) float64 { return float64(int64(x)) }

// Watch adds v, watching hosts, in the order its frames give them: they
// are sampled (by this node or another) while v watches, and v gets a
// Tick every Interval until Unwatch. Watching again replaces v's hosts.
func (f *Fleet) Watch(ctx context.Context, out Viewer, hosts []hostexpr.Host) (*viewer, error) {
	v := &viewer{out: out}
	for _, h := range hosts {
		s := h.String()
		if slices.Contains(v.hosts, s) {
			continue
		}
		v.hosts = append(v.hosts, s)
		v.toks = append(v.toks, token(s))
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrShutdown
	}
	f.viewers[v] = struct{}{}
	f.mu.Unlock()
	f.want(ctx, v.toks)
	return v, nil
}

// Unwatch removes v; its hosts' sampling stops Linger after their last
// viewer, of any node, left.
func (f *Fleet) Unwatch(v *viewer) {
	if v == nil {
		return
	}
	f.mu.Lock()
	_, ok := f.viewers[v]
	delete(f.viewers, v)
	f.mu.Unlock()
	if ok {
		f.unwant(v.toks)
	}
}

// Detail makes v's frames carry host's full record, and returns host's
// records of the last History, oldest first. host must be one of v's.
func (f *Fleet) Detail(ctx context.Context, v *viewer, host string) (History, error) {
	i := slices.Index(v.hosts, host)
	if i < 0 {
		return History{}, fmt.Errorf("%s is not among the hosts watched", host)
	}
	tok := v.toks[i]
	f.mu.Lock()
	v.detail = tok
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	msgs, err := f.stream.Read(ctx, engine.ReadOptions{
		Subject: subject(tok),
		Since:   time.Now().Add(-f.opts.History),
		Limit:   int(f.opts.History/f.opts.Interval) + 16,
	})
	if err != nil {
		return History{}, fmt.Errorf("fleetmon: history of %s: %w", host, err)
	}
	h := History{Type: "history", Host: host, Records: make([]json.RawMessage, 0, len(msgs))}
	for _, m := range msgs {
		if json.Valid(m.Data) {
			h.Records = append(h.Records, m.Data)
		}
	}
	return h, nil
}
