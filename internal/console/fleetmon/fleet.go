package fleetmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// engineTimeout bounds one call to the engine.
const engineTimeout = 10 * time.Second

// maxRecord bounds one stored record (a host of a few thousand cores).
const maxRecord = 64 << 10

// ErrShutdown is returned to viewers coming after Shutdown.
var ErrShutdown = errors.New("fleet monitor shut down")

// Fleet is this node's side of the Fleet Monitor: its viewers, the hosts
// it samples, and its keys in the demand and owner buckets. Its methods
// are safe for concurrent use.
type Fleet struct {
	opts   Options
	log    *slog.Logger
	stream *engine.Stream
	demand *engine.Bucket
	owners *engine.Bucket
	sem    chan struct{} // connection fan-out
	dialer *sharedDialer // nil when Options.Dial is set
	roles  *policy.Policy

	// keyMu serialises writing and deleting this node's demand keys.
	keyMu sync.Mutex

	mu      sync.Mutex
	closed  bool                            // guarded by mu
	wanted  map[string]int                  // guarded by mu: viewers here, by host token
	others  map[string]map[string]time.Time // guarded by mu: demand keys seen, by token, then node
	runs    map[string]*run                 // guarded by mu: hosts sampled here
	latest  map[string]*Record              // guarded by mu: the last record of each host wanted here
	viewers map[*viewer]struct{}            // guarded by mu
	dialled map[string]int                  // guarded by mu: sessions dialled, by host

	stop      context.CancelFunc
	loops     sync.WaitGroup
	demandW   *engine.Watcher
	recordSub *engine.Subscription
}

// run is the sampling of one host on this node.
type run struct {
	host     hostexpr.Host
	cancel   context.CancelFunc
	done     chan struct{}
	idleFrom time.Time // when its demand went; zero while it has some
}

// New makes (or updates) the fleet stream and buckets in e and returns the
// Fleet; nothing is sampled until someone watches.
func New(ctx context.Context, e *engine.Engine, opts Options) (*Fleet, error) {
	opts = opts.withDefaults()
	if opts.Node == "" || strings.ContainsAny(opts.Node, ".*> ") {
		return nil, fmt.Errorf("fleetmon: node name %q", opts.Node)
	}
	lapse := 3 * opts.Beat
	stream, err := e.Stream(ctx, engine.StreamConfig{
		Name:              streamName,
		Subjects:          []string{"fleet.h.*"},
		MaxMsgsPerSubject: int64(opts.History/opts.Interval) + 16,
		MaxBytes:          opts.HistoryBytes,
		MaxAge:            opts.History,
		MaxMsgSize:        maxRecord,
	})
	if err != nil {
		return nil, fmt.Errorf("fleetmon: %w", err)
	}
	// The leases are rewritten every Beat, a key per host: in memory, not
	// a disk write each (and a server's write cache of 8 MiB each).
	demand, err := e.Bucket(ctx, engine.BucketConfig{Name: demandBucket, TTL: lapse, MaxValueSize: 256, MaxBytes: leaseBytes, Memory: true})
	if err != nil {
		return nil, fmt.Errorf("fleetmon: %w", err)
	}
	owners, err := e.Bucket(ctx, engine.BucketConfig{Name: ownerBucket, TTL: lapse, MaxValueSize: 256, MaxBytes: leaseBytes, Memory: true})
	if err != nil {
		return nil, fmt.Errorf("fleetmon: %w", err)
	}
	f := &Fleet{
		opts: opts, log: opts.Logger, stream: stream, demand: demand, owners: owners,
		sem:     make(chan struct{}, opts.Fanout),
		roles:   policy.Default(&policy.Options{Ceiling: opts.SSH.Policy}),
		wanted:  map[string]int{},
		others:  map[string]map[string]time.Time{},
		runs:    map[string]*run{},
		latest:  map[string]*Record{},
		viewers: map[*viewer]struct{}{},
		dialled: map[string]int{},
	}
	if f.opts.Dial == nil {
		f.dialer = &sharedDialer{cfg: opts.SSH, check: dialerCheck}
		f.opts.Dial = f.dialer.dial
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.stop = stop
	if f.demandW, err = demand.Watch(loopCtx, "", f.demandChanged); err != nil {
		stop()
		return nil, fmt.Errorf("fleetmon: demand: %w", err)
	}
	if f.recordSub, err = stream.Subscribe(loopCtx, engine.SubscribeOptions{Subject: "fleet.h.*"}, f.recorded); err != nil {
		stop()
		f.demandW.Stop()
		return nil, fmt.Errorf("fleetmon: records: %w", err)
	}
	f.loops.Add(2)
	go f.beat(loopCtx)
	go f.ticks(loopCtx)
	return f, nil
}

// Options returns the options in force, defaults filled in.
func (f *Fleet) Options() Options { return f.opts }

// Shutdown stops every session and loop of this node and deletes its
// keys; viewers get nothing more. It waits for the sessions to end, or
// for ctx.
func (f *Fleet) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	runs := f.runs
	f.runs = map[string]*run{}
	f.mu.Unlock()
	f.stop()
	f.demandW.Stop()
	f.recordSub.Stop()
	for _, r := range runs {
		r.cancel()
	}
	done := make(chan struct{})
	go func() {
		f.loops.Wait()
		for _, r := range runs {
			<-r.done
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("fleetmon: sessions still stopping: %w", ctx.Err())
	}
	if f.dialer != nil {
		f.dialer.close()
	}
	dctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	for tok := range runs {
		f.owners.Delete(dctx, tok)
	}
	return nil
}

// Sampling returns how many hosts this node samples.
func (f *Fleet) Sampling() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.runs)
}

// Dialled returns how many sessions this node has dialled to host
// (hostexpr.Host.String()).
func (f *Fleet) Dialled(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dialled[host]
}

// demandChanged takes a change of a demand key, of any node.
func (f *Fleet) demandChanged(e engine.Entry) {
	tok, node, ok := strings.Cut(e.Key, ".")
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.Op == engine.OpPut {
		if f.others[tok] == nil {
			f.others[tok] = map[string]time.Time{}
		}
		f.others[tok][node] = time.Now()
	} else if m := f.others[tok]; m != nil {
		delete(m, node)
		if len(m) == 0 {
			delete(f.others, tok)
		}
	}
}

// beat rewrites this node's demand and owner keys, claims hosts wanted
// here that nobody samples, and stops those nobody wants, every Beat.
func (f *Fleet) beat(ctx context.Context) {
	defer f.loops.Done()
	t := time.NewTicker(f.opts.Beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.refresh(ctx)
	}
}

// refresh does one beat's work.
func (f *Fleet) refresh(ctx context.Context) {
	now := time.Now()
	f.mu.Lock()
	var wanted, stop []string
	owned := map[string]bool{}
	for tok := range f.wanted {
		wanted = append(wanted, tok)
	}
	for tok, m := range f.others {
		for node, seen := range m {
			if now.Sub(seen) > 3*f.opts.Beat {
				delete(m, node)
			}
		}
		if len(m) == 0 {
			delete(f.others, tok)
		}
	}
	for tok, r := range f.runs {
		if len(f.others[tok]) > 0 || f.wanted[tok] > 0 {
			r.idleFrom = time.Time{}
			owned[tok] = true
			continue
		}
		if r.idleFrom.IsZero() {
			r.idleFrom = now
		}
		if now.Sub(r.idleFrom) >= f.opts.Linger {
			stop = append(stop, tok)
		} else {
			owned[tok] = true
		}
	}
	f.mu.Unlock()

	for _, tok := range wanted {
		pctx, cancel := context.WithTimeout(ctx, f.opts.Beat)
		f.demand.Put(pctx, demandKey(tok, f.opts.Node), nil)
		cancel()
	}
	for tok := range owned {
		pctx, cancel := context.WithTimeout(ctx, f.opts.Beat)
		f.owners.Put(pctx, tok, []byte(f.opts.Node))
		cancel()
	}
	for _, tok := range stop {
		f.stopRun(tok)
	}
	for _, tok := range wanted {
		f.claim(ctx, tok)
	}
}

// claim starts sampling host tok here if nobody samples it: the node that
// creates its owner key does.
func (f *Fleet) claim(ctx context.Context, tok string) {
	f.mu.Lock()
	_, running := f.runs[tok]
	closed := f.closed
	f.mu.Unlock()
	if running || closed {
		return
	}
	h, err := hostexpr.Parse(hostOf(tok), nil)
	if err != nil || len(h) != 1 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, engineTimeout)
	_, err = f.owners.Create(cctx, tok, []byte(f.opts.Node))
	cancel()
	if err != nil {
		if !errors.Is(err, engine.ErrExists) {
			f.log.Debug("fleetmon: claiming a host", "host", h[0], "err", err)
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.runs[tok] != nil {
		return
	}
	rctx, rcancel := context.WithCancel(context.Background())
	r := &run{host: h[0], cancel: rcancel, done: make(chan struct{})}
	f.runs[tok] = r
	go func() {
		defer close(r.done)
		f.sample(rctx, r.host, tok)
	}()
}

// stopRun stops sampling tok here and gives up its ownership.
func (f *Fleet) stopRun(tok string) {
	f.mu.Lock()
	r := f.runs[tok]
	delete(f.runs, tok)
	f.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	if err := f.owners.Delete(ctx, tok); err != nil {
		f.log.Debug("fleetmon: owner key not deleted; it lapses", "host", r.host, "err", err)
	}
}

// want counts viewers of hosts here; the first viewer of a host writes its
// demand key and claims it at once.
func (f *Fleet) want(ctx context.Context, toks []string) {
	f.keyMu.Lock()
	var first []string
	f.mu.Lock()
	for _, tok := range toks {
		if f.wanted[tok] == 0 {
			first = append(first, tok)
		}
		f.wanted[tok]++
	}
	f.mu.Unlock()
	for _, tok := range first {
		pctx, cancel := context.WithTimeout(ctx, engineTimeout)
		f.demand.Put(pctx, demandKey(tok, f.opts.Node), nil)
		cancel()
	}
	f.keyMu.Unlock()
	for _, tok := range first {
		f.claim(ctx, tok)
	}
}

// unwant uncounts viewers of hosts here; the last viewer of a host
// deletes its demand key (its owner stops Linger later).
func (f *Fleet) unwant(toks []string) {
	f.keyMu.Lock()
	defer f.keyMu.Unlock()
	var last []string
	f.mu.Lock()
	for _, tok := range toks {
		if f.wanted[tok]--; f.wanted[tok] <= 0 {
			delete(f.wanted, tok)
			delete(f.latest, tok)
			last = append(last, tok)
		}
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), engineTimeout)
	defer cancel()
	for _, tok := range last {
		f.demand.Delete(ctx, demandKey(tok, f.opts.Node))
	}
}
