package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// sampler samples this node while some node's viewers ask it to: while a
// key <node>.<viewer's node> of the demand bucket lives.
type sampler struct {
	m *Monitor

	mu       sync.Mutex
	demand   map[string]time.Time // guarded by mu: viewer nodes, and when their key was last written
	cancel   context.CancelFunc   // guarded by mu: stops the running sampler; nil if none runs
	done     chan struct{}        // guarded by mu: closed when the running sampler returns
	sessions int                  // guarded by mu: sampler runs started
	closed   bool                 // guarded by mu: Shutdown was called
}

func (s *sampler) init(m *Monitor) {
	s.m = m
	s.demand = make(map[string]time.Time)
}

// demandChanged takes a change of one of this node's demand keys.
func (s *sampler) demandChanged(e engine.Entry) {
	viewerNode := e.Key[strings.IndexByte(e.Key, '.')+1:]
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Op == engine.OpPut {
		s.demand[viewerNode] = time.Now()
	} else {
		delete(s.demand, viewerNode)
	}
	s.startOrStopLocked()
}

// prune forgets the demand of nodes whose keys have lapsed (the node
// died with viewers).
func (s *sampler) prune() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, seen := range s.demand {
		if time.Since(seen) > 3*s.m.opts.Beat {
			delete(s.demand, n)
		}
	}
	s.startOrStopLocked()
}

// startOrStopLocked starts the sampler if someone watches and it does not
// run, and stops it, waiting for it to return, if nobody does.
func (s *sampler) startOrStopLocked() {
	switch {
	case len(s.demand) > 0 && s.cancel == nil && !s.closed:
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel, s.done = cancel, make(chan struct{})
		s.sessions++
		go s.run(ctx, s.done)
	case len(s.demand) == 0 && s.cancel != nil:
		s.cancel()
		<-s.done // the sampler takes no lock of ours
		s.cancel, s.done = nil, nil
	}
}

// Running reports whether this node samples, and how many times its
// sampler has been started.
func (m *Monitor) Running() (running bool, sessions int) {
	m.sampler.mu.Lock()
	defer m.sampler.mu.Unlock()
	return m.sampler.cancel != nil, m.sampler.sessions
}

// shutdown stops the sampler and waits for it, or for ctx; none starts
// after it.
func (s *sampler) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
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

// run samples every interval until ctx is done, and publishes each sample
// on this node's subject. The first sample of a run marks a gap.
func (s *sampler) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	opts, log := s.m.opts, s.m.log
	if _, err := opts.Source.Sample(ctx); err != nil && ctx.Err() == nil {
		log.Warn("monitor: sampling", "err", err)
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	gap := true
	failing, unpublished := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		smp, err := opts.Source.Sample(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing { // once per run of failures, not every second
				log.Warn("monitor: sampling", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		smp.Gap, gap = gap, false
		// Counted before it is published: a viewer holding sample n
		// knows OnSample has run n times.
		if opts.OnSample != nil {
			opts.OnSample()
		}
		if err := s.publish(ctx, smp); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !unpublished {
				log.Warn("monitor: samples not stored", "err", err)
			}
			unpublished = true
			continue
		}
		unpublished = false
	}
}

// publish stores smp on this node's subject.
func (s *sampler) publish(ctx context.Context, smp Sample) error {
	b, err := json.Marshal(smp)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, max(s.m.opts.Interval, time.Second))
	defer cancel()
	_, err = s.m.stream.Publish(ctx, sampleSubject(s.m.opts.Node), b, "")
	return err
}
