package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.s.DeleteConsumer(dctx, c.CachedInfo().Name)
	}()
	want := int(min(uint64(limit), c.CachedInfo().NumPending))
	out := make([]Msg, 0, want)
	for len(out) < want {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", s.name, err)
		}
		// No-wait pulls return what is there now, so entries removed by
		// the limits meanwhile cannot make this wait.
		batch, err := c.FetchNoWait(min(want-len(out), fetchBatch))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.name, s.e.classify(err))
		}
		got := 0
		for m := range batch.Messages() {
			msg, err := fromJS(m)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", s.name, err)
			}
			if upTo > 0 && msg.Seq > upTo {
				continue
			}
			out = append(out, msg)
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read %s: %w", s.name, s.e.classify(err))
		}
		if got == 0 {
			break
		}
	}
	return out, nil
}
