// Package monitor samples the machine (CPU, memory, load, network, disk)
// for the console's Monitor page.
//
// One sampler serves every viewer, and it runs only while someone watches:
// the first viewer starts it and the last one to leave stops it. Samples go
// into a ring buffer (10 minutes by default) that a new viewer gets at once
// as a backfill, so its charts are full from the start; then every sample,
// encoded once, is pushed to every viewer. The wire protocol is in
// docs/protocol.md.
package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"wsdeck/internal/console/socket"
	"wsdeck/websocket"
)

// Defaults for Options.
const (
	DefaultInterval = time.Second
	DefaultHistory  = 10 * time.Minute
	MinInterval     = 10 * time.Millisecond
)

// Options configure a Monitor. The zero value means the defaults.
type Options struct {
	// Interval is the time between samples. 0 means DefaultInterval;
	// less than MinInterval is raised to it.
	Interval time.Duration
	// History is how far back the ring buffer goes. 0 means
	// DefaultHistory.
	History time.Duration
	// Source takes the samples; nil means the machine's, through gopsutil,
	// with the disk usage of DiskPath ("" means "/").
	Source   Source
	DiskPath string
	// OnSample, if not nil, is called after each sample is taken, before
	// it is pushed to viewers.
	OnSample func()
	// Logger receives sampling errors; nil means slog.Default.
	Logger *slog.Logger
}

// A Source takes samples. Rates (CPU busy, network bytes a second) are over
// the time since the previous call: the sampler calls it once when it
// starts, and discards that sample.
type Source interface {
	Sample(ctx context.Context) (Sample, error)
}

// Sample is the machine's state at one time, as sent on the wire.
type Sample struct {
	Time         int64      `json:"t"`     // Unix milliseconds
	CPU          float64    `json:"cpu"`   // percent busy, all cores together
	Cores        []float64  `json:"cores"` // percent busy, per core
	MemUsed      uint64     `json:"mem_used"`
	MemAvailable uint64     `json:"mem_available"`
	MemTotal     uint64     `json:"mem_total"`
	Load         [3]float64 `json:"load"`   // 1, 5 and 15 minute load averages
	NetRx        float64    `json:"net_rx"` // bytes a second received, loopback excluded
	NetTx        float64    `json:"net_tx"` // bytes a second sent, loopback excluded
	DiskUsed     uint64     `json:"disk_used"`
	DiskTotal    uint64     `json:"disk_total"`
	// Gap marks the first sample after sampling paused (nobody watched):
	// a chart should not draw a line from the previous one.
	Gap bool `json:"gap,omitempty"`
}

// Monitor is the sampler and its viewers. Its methods are safe for
// concurrent use.
type Monitor struct {
	opts Options
	size int // the ring's capacity

	mu       sync.Mutex
	ring     []json.RawMessage   // guarded by mu: encoded samples, oldest at start
	start    int                 // guarded by mu
	viewers  map[viewer]struct{} // guarded by mu
	cancel   context.CancelFunc  // guarded by mu: stops the running sampler; nil if none runs
	done     chan struct{}       // guarded by mu: closed when the running sampler returns
	sessions int                 // guarded by mu: sampler runs started, for tests
	closed   bool                // guarded by mu: Shutdown was called
}

// viewer is where the monitor sends frames: a *socket.Conn.
type viewer interface {
	Send(pm *websocket.PreparedMessage) bool
	SendOwn(b []byte) bool
}

// New returns a Monitor; nothing runs until someone watches.
func New(opts Options) *Monitor {
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	opts.Interval = max(opts.Interval, MinInterval)
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Source == nil {
		opts.Source = NewSystemSource(opts.DiskPath)
	}
	size := max(1, int(opts.History/opts.Interval))
	return &Monitor{opts: opts, size: size, viewers: make(map[viewer]struct{})}
}

// Backfill is the first message a viewer gets.
type Backfill struct {
	Type       string            `json:"type"` // "backfill"
	IntervalMS int64             `json:"interval_ms"`
	HistoryMS  int64             `json:"history_ms"`
	Samples    []json.RawMessage `json:"samples"` // oldest first
}

// sampleMessage is a pushed sample.
type sampleMessage struct {
	Type   string          `json:"type"` // "sample"
	Sample json.RawMessage `json:"sample"`
}

// ServeSocket runs a viewer's connection. Viewers send nothing; any message
// gets an error back.
func (m *Monitor) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	m.Watch(c)
	defer m.Unwatch(c)
	return c.Run(ctx, func(msg socket.Message) error { return socket.UnknownType(msg.Type) })
}

// Watch adds viewer v: it gets the backfill, then every new sample. The
// first viewer starts the sampler.
func (m *Monitor) Watch(v viewer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := json.Marshal(Backfill{
		Type:       "backfill",
		IntervalMS: m.opts.Interval.Milliseconds(),
		HistoryMS:  m.opts.History.Milliseconds(),
		Samples:    m.samplesLocked(),
	})
	if err != nil {
		panic(err) // a Backfill always encodes
	}
	v.SendOwn(b)
	m.viewers[v] = struct{}{}
	if m.cancel == nil && !m.closed {
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel, m.done = cancel, make(chan struct{})
		m.sessions++
		go m.run(ctx, m.done, len(m.ring) > 0)
	}
}

// Unwatch removes viewer v. When the last viewer leaves, it stops the
// sampler and waits for it to return.
func (m *Monitor) Unwatch(v viewer) {
	m.mu.Lock()
	delete(m.viewers, v)
	if len(m.viewers) > 0 || m.cancel == nil {
		m.mu.Unlock()
		return
	}
	m.cancel() // under mu, so the sampler publishes nothing more
	done := m.done
	m.cancel, m.done = nil, nil
	m.mu.Unlock()
	<-done
}

// Shutdown stops the sampler and waits for it to return, or for ctx to be
// done; no sampler starts after it. Viewers stay until they leave.
func (m *Monitor) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	cancel, done := m.cancel, m.done
	m.cancel, m.done = nil, nil
	m.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("monitor: sampler still stopping: %w", ctx.Err())
	}
}

// Running reports whether the sampler runs, and how many times it has been
// started.
func (m *Monitor) Running() (running bool, sessions int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cancel != nil, m.sessions
}

// Samples returns the samples in the ring buffer, oldest first.
func (m *Monitor) Samples() []json.RawMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.samplesLocked()
}

func (m *Monitor) samplesLocked() []json.RawMessage {
	out := make([]json.RawMessage, 0, len(m.ring))
	out = append(out, m.ring[m.start:]...)
	return append(out, m.ring[:m.start]...)
}

// run samples every interval until ctx is done. resumed says there are
// samples from an earlier run, so the first new one marks a gap.
func (m *Monitor) run(ctx context.Context, done chan struct{}, resumed bool) {
	defer close(done)
	src := m.opts.Source
	if _, err := src.Sample(ctx); err != nil && ctx.Err() == nil {
		m.opts.Logger.Warn("monitor: sampling", "err", err)
	}
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := src.Sample(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing { // once per run of failures, not every second
				m.opts.Logger.Warn("monitor: sampling", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		s.Gap = resumed
		resumed = false
		// Counted before viewers see it: a viewer holding sample n knows
		// OnSample has run n times.
		if m.opts.OnSample != nil {
			m.opts.OnSample()
		}
		m.publish(ctx, s)
	}
}

// publish keeps s in the ring and pushes it, encoded once, to every viewer.
func (m *Monitor) publish(ctx context.Context, s Sample) {
	raw, err := json.Marshal(s)
	if err != nil {
		panic(err) // a Sample always encodes
	}
	frame, err := json.Marshal(sampleMessage{Type: "sample", Sample: raw})
	if err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctx.Err() != nil {
		return // stopped while sampling: the viewers are gone
	}
	if len(m.ring) < m.size {
		m.ring = append(m.ring, raw)
	} else {
		m.ring[m.start] = raw
		m.start = (m.start + 1) % m.size
	}
	pm, _ := websocket.NewPreparedMessage(websocket.MessageText, frame)
	for v := range m.viewers {
		v.Send(pm)
	}
}
