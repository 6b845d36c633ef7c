package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// Defaults for Options.
const (
	DefaultInterval     = time.Second
	DefaultHistory      = 10 * time.Minute
	DefaultHistoryBytes = 64 << 20
	DefaultBeat         = 5 * time.Second
	MinInterval         = 10 * time.Millisecond
	MinBeat             = 50 * time.Millisecond
)

// maxSample bounds one stored sample (a machine of a few thousand cores).
const maxSample = 64 << 10

// engineTimeout bounds one call to the engine.
const engineTimeout = 10 * time.Second

// Options configure a Monitor. The zero value means the defaults.
type Options struct {
	// Node names this node: its subject, its entry in the node list. ""
	// means DefaultNode(). It must pass CheckNode.
	Node string
	// Interval is the time between samples. 0 means DefaultInterval;
	// less than MinInterval is raised to it.
	Interval time.Duration
	// History is how long the stream keeps a sample, and how far back a
	// viewer's backfill goes. 0 means DefaultHistory.
	History time.Duration
	// HistoryBytes bounds the samples kept, in bytes, all nodes
	// together. 0 means DefaultHistoryBytes.
	HistoryBytes int64
	// Beat is how often a node rewrites its entry in the node list and
	// the keys that ask other nodes to sample; both lapse after three
	// Beats. 0 means DefaultBeat; less than MinBeat is raised to it.
	Beat time.Duration
	// Source takes the samples; nil means the machine's, through gopsutil,
	// with the disk usage of DiskPath ("" means "/").
	Source   Source
	DiskPath string
	// OnSample, if not nil, is called after each sample is taken, before
	// it is published.
	OnSample func()
	// Logger receives the monitor's warnings; nil means slog.Default.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Node == "" {
		o.Node = DefaultNode()
	}
	if err := CheckNode(o.Node); err != nil {
		return o, err
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	o.Interval = max(o.Interval, MinInterval)
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.HistoryBytes <= 0 {
		o.HistoryBytes = DefaultHistoryBytes
	}
	if o.Beat == 0 {
		o.Beat = DefaultBeat
	}
	o.Beat = max(o.Beat, MinBeat)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Source == nil {
		o.Source = NewSystemSource(o.DiskPath)
	}
	return o, nil
}

// A Source takes samples. Rates (CPU busy, network bytes a second) are over
// the time since the previous call: the sampler calls it once when it
// starts, and discards that sample.
type Source interface {
	Sample(ctx context.Context) (Sample, error)
}

// Monitor is this node's side of the Monitor: its sampler, its entry in
// the node list, and its viewers, of any node. Its methods are safe for
// concurrent use.
type Monitor struct {
	opts    Options
	log     *slog.Logger
	started time.Time
	stream  *engine.Stream // samples, a subject per node
	nodes   *engine.Bucket // the node list
	demand  *engine.Bucket // who watches whom

	mu      sync.Mutex
	closed  bool                    // guarded by mu
	topics  map[string]*topic.Topic // guarded by mu: by node shown
	viewers map[Viewer]string       // guarded by mu: the node each views
	wanted  map[string]int          // guarded by mu: viewers here, by node shown
	failing map[string]bool         // guarded by mu: nodes whose demand key cannot be written
	list    map[string]listed       // guarded by mu: the node list

	// keyMu serialises writing and deleting demand keys, so that a key
	// deleted by the last viewer leaving is not left deleted by a viewer
	// coming at the same time.
	keyMu sync.Mutex

	sampler sampler

	stop        context.CancelFunc // ends the beat loop and the watches
	loopDone    chan struct{}
	nodeWatch   *engine.Watcher
	demandWatch *engine.Watcher
}

// listed is a node in the list, and when this node last heard of it.
type listed struct {
	info NodeInfo
	seen time.Time
}

// New makes (or updates) the monitor's stream and buckets in e, puts this
// node in the node list and returns the monitor; nothing is sampled until
// someone watches. The error names a bad Options.Node, or is the engine's,
// wrapped.
func New(ctx context.Context, e *engine.Engine, opts Options) (*Monitor, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	lapse := 3 * opts.Beat
	stream, err := e.Stream(ctx, engine.StreamConfig{
		Name:     streamName,
		Subjects: []string{sampleSubject("*")},
		// A little over one History of samples: the oldest go by age.
		MaxMsgsPerSubject: int64(opts.History/opts.Interval) + 16,
		MaxBytes:          opts.HistoryBytes,
		MaxAge:            opts.History,
		MaxMsgSize:        maxSample,
		Duplicates:        min(opts.History, 2*time.Minute),
	})
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	nodes, err := e.Bucket(ctx, engine.BucketConfig{Name: nodesBucket, TTL: lapse, MaxValueSize: 1024, MaxBytes: 4 << 20})
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	demand, err := e.Bucket(ctx, engine.BucketConfig{Name: demandBucket, TTL: lapse, MaxValueSize: 256, MaxBytes: 4 << 20})
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	m := &Monitor{
		opts:    opts,
		log:     opts.Logger,
		started: time.Now().UTC(),
		stream:  stream,
		nodes:   nodes,
		demand:  demand,
		topics:  make(map[string]*topic.Topic),
		viewers: make(map[Viewer]string),
		wanted:  make(map[string]int),
		failing: make(map[string]bool),
		list:    make(map[string]listed),
	}
	m.sampler.init(m)
	if err := m.putSelf(ctx); err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop = stop
	if m.nodeWatch, err = nodes.Watch(loopCtx, "", m.nodeChanged); err != nil {
		stop()
		return nil, fmt.Errorf("monitor: node list: %w", err)
	}
	if m.demandWatch, err = demand.Watch(loopCtx, demandKey(opts.Node, "*"), m.sampler.demandChanged); err != nil {
		stop()
		m.nodeWatch.Stop()
		return nil, fmt.Errorf("monitor: demand: %w", err)
	}
	// The nodes already listed are known before New returns.
	select {
	case <-m.nodeWatch.Ready():
	case <-ctx.Done():
		m.shutdownLoops()
		return nil, fmt.Errorf("monitor: node list: %w", ctx.Err())
	}
	m.loopDone = make(chan struct{})
	go m.beat(loopCtx)
	return m, nil
}

// Node returns this node's name.
func (m *Monitor) Node() string { return m.opts.Node }

// Options returns the options in force, defaults filled in.
func (m *Monitor) Options() Options { return m.opts }

// ErrShutdown is returned to viewers coming after Shutdown.
var ErrShutdown = errors.New("monitor shut down")

// Shutdown stops the sampler and the monitor's engine subscriptions, and
// takes this node out of the node list; viewers get nothing more, and
// Watch fails. It waits for the sampler to return, or for ctx to be done.
// It does not wait for the viewers' connections, which the server closes.
func (m *Monitor) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	topics := make([]*topic.Topic, 0, len(m.topics))
	for _, t := range m.topics {
		topics = append(topics, t)
	}
	m.mu.Unlock()
	m.shutdownLoops()
	for _, t := range topics {
		t.Close()
	}
	err := m.sampler.shutdown(ctx)
	dctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	if derr := m.nodes.Delete(dctx, m.opts.Node); derr != nil {
		m.log.Debug("monitor: node not taken out of the list; it lapses", "err", derr)
	}
	return err
}

func (m *Monitor) shutdownLoops() {
	m.stop()
	if m.loopDone != nil {
		<-m.loopDone
	}
	if m.nodeWatch != nil {
		m.nodeWatch.Stop()
	}
	if m.demandWatch != nil {
		m.demandWatch.Stop()
	}
}

// beat rewrites this node's entry and demand keys, and forgets the nodes
// and demand that have lapsed, every Beat until ctx is done.
func (m *Monitor) beat(ctx context.Context) {
	defer close(m.loopDone)
	t := time.NewTicker(m.opts.Beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.putSelf(ctx); err != nil && ctx.Err() == nil {
			m.log.Debug("monitor: node list not refreshed", "err", err)
		}
		m.refreshDemand(ctx)
		m.pruneNodes()
		m.sampler.prune()
	}
}
