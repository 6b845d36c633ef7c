package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultReadLimit is how many entries Read returns at most when
// ReadOptions.Limit is zero.
const DefaultReadLimit = 1000

// fetchBatch is how many entries one pull request asks for.
const fetchBatch = 256

// ReadOptions select the entries Read returns.
type ReadOptions struct {
	// Subject keeps only entries on subjects it matches (wildcards
	// allowed). Empty means every subject of the stream.
	Subject string
	// From is the first sequence to return; zero means the oldest entry.
	From uint64
	// Since, if not zero, starts at the first entry stored at or after it
	// instead of at From.
	Since time.Time
	// Limit is the most entries returned. Zero means DefaultReadLimit.
	Limit int
}

// Read returns the stream's entries that opt selects, oldest first, as
// they are when Read is called: it does not wait for new ones. Entries
// removed by the stream's limits while it reads are skipped.
func (s *Stream) Read(ctx context.Context, opt ReadOptions) ([]Msg, error) {
	if opt.Limit <= 0 {
		opt.Limit = DefaultReadLimit
	}
	cfg := jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case !opt.Since.IsZero():
		since := opt.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	case opt.From > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, opt.From
	}
	return s.read(ctx, cfg, opt.Subject, opt.Limit, 0)
}

// Last returns the newest n entries on subjects matching subject ("" means
// every subject of the stream), oldest first.
func (s *Stream) Last(ctx context.Context, subject string, n int) ([]Msg, error) {
	if n <= 0 {
		return nil, nil
	}
	info, err := s.Info(ctx)
	if err != nil || info.Msgs == 0 {
		return nil, err
	}
	from := func(window uint64) uint64 {
		if info.LastSeq-info.FirstSeq < window {
			return info.FirstSeq
		}
		return info.LastSeq - window + 1
	}
	// Walk back in growing windows of sequences until one holds n
	// matching entries or reaches the oldest: without a filter the first
	// window is exact; with one, it costs a few reads where the subject is
	// sparse.
	for window := uint64(n); ; window *= 4 {
		start := from(window)
		cfg := jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start}
		msgs, err := s.read(ctx, cfg, subject, int(min(window, 1<<20)), info.LastSeq)
		if err != nil {
			return nil, err
		}
		if len(msgs) >= n || start == info.FirstSeq || window >= 1<<40 {
			return msgs[max(0, len(msgs)-n):], nil
		}
	}
}

// read pulls up to limit entries through a short-lived consumer made from
// cfg, stopping after sequence upTo when it is not zero.
func (s *Stream) read(ctx context.Context, cfg jetstream.ConsumerConfig, subject string, limit int, upTo uint64) ([]Msg, error) {
	if s.e.closing.Load() {
		return nil, ErrClosed
	}
	cfg.FilterSubject = subject
	cfg.AckPolicy = jetstream.AckNonePolicy
	cfg.MemoryStorage = true
	cfg.Replicas = 1
	cfg.InactiveThreshold = 30 * time.Second // if the delete below is lost
	c, err := s.s.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.name, s.e.classify(err))
	}
	drop := func(c jetstream.Consumer) {
		if c == nil {
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.s.DeleteConsumer(dctx, c.CachedInfo().Name)
	}
	defer func() { drop(c) }()
	if testHookReadConsumer != nil {
		testHookReadConsumer(c)
	}
	// The consumer may sit on a replica that has not yet caught up with
	// the stream's leader: read up to the leader's last entry as it was
	// when the read began, waiting a little for a replica that lags.
	last, err := s.LastSeq(ctx, subject)
	if err != nil || last == 0 {
		return nil, err
	}
	if upTo == 0 || last < upTo {
		upTo = last
	}
	var out []Msg
	// The last sequence fetched, or, before the first pull, the one
	// before where the consumer starts (past the end: nothing to read).
	seen := c.CachedInfo().Delivered.Stream
	// The consumer's own sequence of the last entry fetched: its entries
	// are numbered 1, 2, 3 ... with no gap, so a gap says that some went
	// to a pull that had already given up (a Fetch that timed out on our
	// side while the server still sent to it).
	var cseq uint64
	// How many pulls in a row found no consumer to answer them, and how
	// many rounds in a row the consumer sent nothing while the stream
	// held more.
	lost, silent := 0, 0
	// anew replaces the consumer with one that starts after the last
	// entry taken.
	anew := func() error {
		drop(c)
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartSequencePolicy, seen+1, nil
		next, err := s.s.CreateConsumer(ctx, cfg)
		if err != nil {
			c = nil // dropped above
			return fmt.Errorf("read %s: %w", s.name, s.e.classify(err))
		}
		c, cseq = next, 0
		return nil
	}
	for len(out) < limit && seen < upTo {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", s.name, err)
		}
		// No-wait pulls return what is there now, so entries removed by
		// the limits meanwhile cannot make this wait; only when none is
		// there does a pull wait, for a lagging replica, and briefly.
		n := min(limit-len(out), fetchBatch)
		batch, err := c.FetchNoWait(n)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.name, s.e.classify(err))
		}
		got, err := s.take(batch, upTo, &seen, &cseq, &out)
		if err == nil && got == 0 {
			batch, err = c.Fetch(n, jetstream.FetchMaxWait(replicaLagWait))
			if err == nil {
				got, err = s.take(batch, upTo, &seen, &cseq, &out)
			}
		}
		if err == nil && got == 0 {
			// Nothing came: either the replica lags, or the consumer
			// already sent what is left, to a pull that had given up on
			// our side, and will send it to no pull again. Its own count
			// of what it sent tells them apart.
			err = s.sentElsewhere(ctx, c, cseq)
		}
		if noResponders(err) && lost < maxConsumerLost {
			// Nobody took the pull: the new consumer's subscription has
			// not reached this connection's server yet (route pools do
			// not keep the create's reply behind it), or the consumer
			// was lost with its server. Wait a little, then read on
			// from the last entry taken with a consumer of its own.
			lost++
			if err := pause(ctx, lost); err != nil {
				return nil, fmt.Errorf("read %s: %w", s.name, err)
			}
			err = errConsumerGap
		}
		if errors.Is(err, errConsumerGap) {
			// Entries were lost on the way: read on from the last one
			// taken, with a consumer of its own.
			if err := anew(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		lost = 0
		if got > 0 {
			silent = 0
			continue
		}
		// Nothing came within replicaLagWait: the consumer's replica
		// still lags (under load it can for seconds), or the limits
		// removed what was left. Wait on unless the latter: a read that
		// stopped short would leave a gap nobody sees. (An error here,
		// say while the stream elects a leader, says neither: wait on,
		// within ctx.)
		info, err := s.Info(ctx)
		if err == nil && (info.FirstSeq > upTo || info.Msgs == 0) {
			break
		}
		if silent++; silent >= maxSilent {
			// A replica that lags this long may never catch up (its
			// server is cut off, or stalled): read on from the last
			// entry taken with a new consumer, which the cluster places
			// on a replica that is caught up, if one is.
			s.e.log.Debug("read: the consumer sends nothing: starting another", "stream", s.name, "after", seen, "upTo", upTo)
			silent = 0
			if err := anew(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// sentElsewhere returns errConsumerGap if c has sent entries past the
// read's last, cseq (by its own sequence): sent to a pull that had given
// up, they will not come again. An error asking is nil: the read waits
// on, as for a replica that lags.
func (s *Stream) sentElsewhere(ctx context.Context, c jetstream.Consumer, cseq uint64) error {
	info, err := c.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return errConsumerGap // gone with its server: read on with another
	}
	if err == nil && info.Delivered.Consumer > cseq {
		return errConsumerGap
	}
	return nil
}

// LastSeq returns the sequence of the stream's newest entry on subjects
// matching subject ("": any), as the stream's leader has it, or 0 if there
// is none: one request, without a consumer.
func (s *Stream) LastSeq(ctx context.Context, subject string) (uint64, error) {
	if subject == "" {
		info, err := s.Info(ctx)
		return info.LastSeq, err
	}
	m, err := s.s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", s.name, s.e.classify(err))
	}
	return m.Sequence, nil
}

// replicaLagWait bounds how long a read waits for entries that the
// stream's leader has and the consumer's replica does not have yet, and
// maxSilent how many such waits in a row it makes before it reads on with
// a new consumer.
const (
	replicaLagWait = 500 * time.Millisecond
	maxSilent      = 4
)

// take appends to out the entries of batch up to sequence upTo, records
// the last sequence fetched in seen, and returns how many it fetched.
func (s *Stream) take(batch jetstream.MessageBatch, upTo uint64, seen, cseq *uint64, out *[]Msg) (int, error) {
	got := 0
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return got, fmt.Errorf("read %s: %w", s.name, err)
		}
		if md.Sequence.Consumer != *cseq+1 {
			for range batch.Messages() { // let the batch end
			}
			return got, errConsumerGap
		}
		msg, err := fromJS(m)
		if err != nil {
			return got, fmt.Errorf("read %s: %w", s.name, err)
		}
		got++
		*seen, *cseq = msg.Seq, md.Sequence.Consumer
		if msg.Seq <= upTo {
			*out = append(*out, msg)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
		return got, fmt.Errorf("read %s: %w", s.name, s.e.classify(err))
	}
	return got, nil
}

// testHookReadConsumer, when set by a test, is called with a read's first
// consumer before the first pull.
var testHookReadConsumer func(jetstream.Consumer)

// maxConsumerLost bounds how many times in a row a read makes a new
// consumer because its pull found no responder.
const maxConsumerLost = maxNoResponders

// errConsumerGap says that a read's consumer skipped some of its own
// sequence numbers: entries it sent that the read did not get.
var errConsumerGap = errors.New("entries lost between the consumer and the read")
