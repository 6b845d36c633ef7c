package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SubscribeOptions select what a Subscription delivers.
type SubscribeOptions struct {
	// Subject keeps only entries on subjects it matches (wildcards
	// allowed). Empty means every subject of the stream.
	Subject string
	// From is the first sequence to deliver: a client that has read up to
	// sequence n passes n+1 to miss nothing. Zero means only entries
	// stored after Subscribe returns.
	From uint64
}

// Subscription delivers a stream's entries as they are stored. Stop may
// be called from any goroutine but the handler's.
type Subscription struct {
	cc      jetstream.ConsumeContext
	mu      sync.Mutex // held while the handler runs
	stopped atomic.Bool
	stopCtx func() bool // ends the context.AfterFunc
}

// Subscribe calls fn with each entry opt selects, in stream order, one at
// a time, from one goroutine at a time, until Stop is called, ctx is done,
// or the engine shuts down. After a lost connection or a missed entry it
// resumes after the last entry delivered, so fn sees each entry once and
// none is skipped unless the stream's limits removed it meanwhile. fn
// should return promptly: entries wait while it runs.
func (s *Stream) Subscribe(ctx context.Context, opt SubscribeOptions, fn func(Msg)) (*Subscription, error) {
	if s.e.closing.Load() {
		return nil, ErrClosed
	}
	oc := jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy,
		// The server forgets the consumer this long after the
		// subscription stops or the connection is lost; a reconnect
		// makes it anew from where delivery stopped.
		InactiveThreshold: 30 * time.Second,
	}
	if opt.Subject != "" {
		oc.FilterSubjects = []string{opt.Subject}
	}
	if opt.From > 0 {
		oc.DeliverPolicy, oc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, opt.From
	}
	c, err := s.s.OrderedConsumer(ctx, oc)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", s.name, s.e.classify(err))
	}
	sub := &Subscription{}
	log := s.e.log.With("stream", s.name)
	handler := func(m jetstream.Msg) {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		if sub.stopped.Load() {
			return
		}
		msg, err := fromJS(m)
		if err != nil {
			log.Warn("subscription: bad entry metadata", "err", err)
			return
		}
		fn(msg)
	}
	cc, err := c.Consume(handler, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if s.e.closing.Load() || errors.Is(err, jetstream.ErrConnectionClosed) {
			return
		}
		log.Debug("subscription: recovering", "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", s.name, s.e.classify(err))
	}
	sub.cc = cc
	sub.stopCtx = context.AfterFunc(ctx, sub.stop)
	return sub, nil
}

// Stop ends the subscription: once it returns, fn is not running and will
// not be called again. It must not be called from fn (fn can cancel the
// context given to Subscribe instead).
func (sub *Subscription) Stop() {
	sub.stopCtx()
	sub.stop()
	sub.mu.Lock() // wait for a running fn
	sub.mu.Unlock()
}

func (sub *Subscription) stop() {
	if sub.stopped.Swap(true) {
		return
	}
	sub.cc.Stop()
}
