package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
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

// subHeartbeat is how often the server shows an idle consumer is alive;
// two missed in a row start the consumer anew. (A variable for the tests.)
var subHeartbeat = 5 * time.Second

// Consumer settings of a subscription.
const (
	// subExpiry is how long one pull request lasts before the next.
	subExpiry = 30 * time.Second
	// subInactive is how long the server keeps a consumer nobody pulls
	// from: one whose subscription stopped, or whose client vanished.
	subInactive = 30 * time.Second
	// restartMin and restartMax bound the pause between attempts to start
	// a consumer while the cluster cannot make one.
	restartMin = 100 * time.Millisecond
	restartMax = 5 * time.Second
	// deleteTimeout bounds the deletion of a consumer no longer used.
	deleteTimeout = time.Second
)

// Subscription delivers a stream's entries as they are stored. Stop may
// be called from any goroutine but the handler's.
//
// It runs one ephemeral consumer at a time, starting from the entry after
// the last one delivered. It starts a new one, on whichever server the
// cluster places it, when the connection moves to another server, when
// the consumer stops sending (its server died), when the server reports
// the consumer gone, or when the consumer's own sequence shows a gap. The
// library's ordered consumer does the same, but after some faults
// (the stream's leader and the connection's server lost together) it was
// seen to stay silent for good; here every restart is this package's, and
// logged.
type Subscription struct {
	s   *Stream
	opt SubscribeOptions
	fn  func(Msg)

	mu   sync.Mutex // held while fn runs, and guards the fields below
	last uint64     // the stream sequence delivered up to
	gen  uint64     // counts consumers: a replaced one's late entries are ignored
	dseq uint64     // the current consumer's sequence delivered up to
	// pauseNext makes the loop wait restartMin before the next consumer.
	pauseNext bool
	stopped   atomic.Bool

	kick    chan struct{} // asks the loop for a new consumer
	done    chan struct{} // closed by stop
	exited  chan struct{} // closed when the loop returns
	stopCtx func() bool   // ends the context.AfterFunc
}

// Subscribe calls fn with each entry opt selects, in stream order, one at
// a time, from one goroutine at a time, until Stop is called, ctx is done,
// or the engine shuts down. After a lost connection, a lost server or a
// missed entry it resumes after the last entry delivered, so fn sees each
// entry once and none is skipped unless the stream's limits removed it
// meanwhile. fn should return promptly: entries wait while it runs.
func (s *Stream) Subscribe(ctx context.Context, opt SubscribeOptions, fn func(Msg)) (*Subscription, error) {
	if s.e.closing.Load() {
		return nil, ErrClosed
	}
	sub := &Subscription{
		s: s, opt: opt, fn: fn,
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	if opt.From > 0 {
		sub.last = opt.From - 1
	} else {
		// "Only entries stored after Subscribe returns": from the
		// stream's last sequence now, so that a restart before the first
		// entry misses none either.
		info, err := s.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("subscribe to %s: %w", s.name, err)
		}
		sub.last = info.LastSeq
	}
	reconnected := s.e.reconnected()
	cc, err := sub.start(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", s.name, s.e.classify(err))
	}
	go sub.loop(cc, reconnected)
	sub.stopCtx = context.AfterFunc(ctx, sub.stop)
	return sub, nil
}

// start creates a consumer from the entry after the last delivered and
// consumes it.
func (sub *Subscription) start(ctx context.Context) (jetstream.ConsumeContext, error) {
	sub.mu.Lock()
	sub.gen++
	gen, from := sub.gen, sub.last+1
	sub.dseq = 0
	sub.mu.Unlock()
	cfg := jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: subInactive,
		Replicas:          1,
		MemoryStorage:     true,
		FilterSubject:     sub.opt.Subject,
	}
	ctx, cancel := context.WithTimeout(ctx, sub.s.e.cfg.ConnectTimeout)
	defer cancel()
	c, err := sub.s.s.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	name := c.CachedInfo().Name
	if testHookSubConsumer != nil {
		testHookSubConsumer(c)
	}
	cc, err := c.Consume(func(m jetstream.Msg) { sub.deliver(gen, m) },
		jetstream.PullExpiry(subExpiry), jetstream.PullHeartbeat(subHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { sub.consumeErr(gen, err) }))
	if err != nil {
		sub.deleteConsumer(name)
		return nil, err
	}
	return consumer{cc, name}, nil
}

// consumer is a running consumer and its name, to delete it when it is
// replaced.
type consumer struct {
	jetstream.ConsumeContext
	name string
}

// deliver hands the current consumer's entries to fn, in order, and asks
// for a new consumer when one is missing.
func (sub *Subscription) deliver(gen uint64, m jetstream.Msg) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.stopped.Load() || gen != sub.gen {
		return
	}
	md, err := m.Metadata()
	if err != nil {
		sub.s.e.log.Warn("subscription: bad entry metadata", "stream", sub.s.name, "err", err)
		return
	}
	if md.Sequence.Consumer != sub.dseq+1 {
		// The consumer skipped some: start again after the last.
		sub.restart("the consumer's sequence skipped", "want", sub.dseq+1, "got", md.Sequence.Consumer)
		return
	}
	sub.dseq = md.Sequence.Consumer
	if md.Sequence.Stream <= sub.last {
		return
	}
	sub.last = md.Sequence.Stream
	sub.fn(Msg{
		Seq:     md.Sequence.Stream,
		Subject: m.Subject(),
		Data:    m.Data(),
		Time:    md.Timestamp,
		Header:  header(m.Headers()),
	})
}

// consumeErr handles what the library reports of the current consumer:
// every fault it cannot mend by pulling again starts a new consumer.
func (sub *Subscription) consumeErr(gen uint64, err error) {
	if sub.s.e.closing.Load() || errors.Is(err, jetstream.ErrConnectionClosed) {
		return
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if gen != sub.gen {
		return
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		// Nobody took the pull: on a cluster, the new consumer's
		// interest has not reached this connection's server yet, and
		// the library pulls again only when the heartbeats lapse (10 s
		// of nothing delivered). Start another, after a pause.
		sub.pauseNext = true
		sub.restart("the consumer's pull found no responder")
	case errors.Is(err, jetstream.ErrNoHeartbeat),
		errors.Is(err, jetstream.ErrConsumerDeleted),
		errors.Is(err, jetstream.ErrConsumerNotFound),
		errors.Is(err, jetstream.ErrServerShutdown),
		errors.Is(err, jetstream.ErrConsumerLeadershipChanged),
		errors.Is(err, jetstream.ErrBadRequest):
		sub.restart("consumer lost", "err", err)
	default:
		sub.s.e.log.Debug("subscription: consumer reports", "stream", sub.s.name, "err", err)
	}
}

// restart asks the loop for a new consumer; the current one's entries are
// ignored from now on. sub.mu is held.
func (sub *Subscription) restart(why string, attrs ...any) {
	sub.gen++
	sub.s.e.log.Debug("subscription: restarting: "+why, append([]any{"stream", sub.s.name, "after", sub.last}, attrs...)...)
	select {
	case sub.kick <- struct{}{}:
	default:
	}
}

// loop replaces the consumer when asked to or when the connection moves,
// until the subscription stops.
func (sub *Subscription) loop(cc jetstream.ConsumeContext, reconnected <-chan struct{}) {
	defer close(sub.exited)
	defer func() {
		if cc != nil {
			sub.drop(cc)
		}
	}()
	for {
		select {
		case <-sub.done:
			return
		case <-sub.s.e.ncClosed:
			return
		case <-sub.kick:
		case <-reconnected:
			// The consumer may have been on the server lost, and pulls
			// made before are gone with the connection.
			sub.mu.Lock()
			sub.gen++
			sub.mu.Unlock()
		}
		reconnected = sub.s.e.reconnected()
		if cc != nil {
			sub.drop(cc)
			cc = nil
		}
		sub.mu.Lock()
		pause := sub.pauseNext
		sub.pauseNext = false
		sub.mu.Unlock()
		if pause && !sub.sleep(restartMin) {
			return
		}
		wait := restartMin
		for cc == nil {
			var err error
			if cc, err = sub.start(context.Background()); err == nil {
				break
			}
			if sub.s.e.closing.Load() {
				return
			}
			sub.s.e.log.Debug("subscription: cannot start a consumer yet", "stream", sub.s.name, "err", err, "retry", wait)
			if !sub.sleep(wait) {
				return
			}
			wait = min(2*wait, restartMax)
		}
		sub.s.e.log.Debug("subscription: consumer started", "stream", sub.s.name, "after", sub.lastDelivered())
	}
}

// sleep waits d, and reports false if the subscription stopped or the
// engine's connection closed meanwhile.
func (sub *Subscription) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sub.done:
		return false
	case <-sub.s.e.ncClosed:
		return false
	case <-t.C:
		return true
	}
}

// drop stops a replaced or ended consumer and deletes it on the server,
// if the server answers at once (else the server forgets it after
// subInactive).
func (sub *Subscription) drop(cc jetstream.ConsumeContext) {
	cc.Stop()
	if c, ok := cc.(consumer); ok {
		sub.deleteConsumer(c.name)
	}
}

func (sub *Subscription) deleteConsumer(name string) {
	if sub.s.e.closing.Load() || !sub.s.e.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	_ = sub.s.s.DeleteConsumer(ctx, name)
}

func (sub *Subscription) lastDelivered() uint64 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.last
}

// Stop ends the subscription: once it returns, fn is not running and will
// not be called again, and the consumer is stopped (and deleted, if the
// server answers within a second). It must not be called from fn (fn can
// cancel the context given to Subscribe instead).
func (sub *Subscription) Stop() {
	sub.stopCtx()
	sub.stop()
	<-sub.exited
	sub.mu.Lock() // wait for a running fn
	sub.mu.Unlock()
}

func (sub *Subscription) stop() {
	if sub.stopped.Swap(true) {
		return
	}
	close(sub.done)
}

// testHookSubConsumer, when set by a test, is called with each consumer a
// subscription makes, before it pulls.
var testHookSubConsumer func(jetstream.Consumer)
