package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// Stream names the audit stream; SubjectJobs is where job records go.
const (
	Stream      = "AUDIT"
	SubjectJobs = "audit.jobs"
)

// DefaultDedupe is how long, by default, the stream remembers the start
// and end records of jobs and terminal sessions, to store each once.
const DefaultDedupe = 24 * time.Hour

// Options configure a Log. The zero value keeps every record forever and
// exports none.
type Options struct {
	// MaxAge is how long the stream keeps a record; zero means forever.
	MaxAge time.Duration
	// Dedupe is how long the stream remembers a job's or a terminal
	// session's start and end records (their message ids), to store
	// each once: a node cut off from the engine longer than its lapse
	// has its job or session ended by another node, which writes the end
	// record, and writes its own end when it is back, which the stream
	// then drops. Zero means DefaultDedupe; never more than MaxAge.
	Dedupe time.Duration
	// Export, if set, receives a copy of every record this Log writes,
	// after the stream has stored it.
	Export *File
}

// Log writes audit records to the engine's AUDIT stream. Safe for
// concurrent use.
type Log struct {
	s    *engine.Stream
	opts Options

	mu       sync.Mutex // held across a Write when there is an export, to keep its order
	exported uint64     // guarded by mu: the last sequence copied to the export
}

// Open creates (or updates) the AUDIT stream on e and returns a Log
// writing to it.
func Open(ctx context.Context, e *engine.Engine, opts Options) (*Log, error) {
	dedupe := opts.Dedupe
	if dedupe <= 0 {
		dedupe = DefaultDedupe
	}
	if opts.MaxAge > 0 {
		dedupe = min(dedupe, opts.MaxAge)
	}
	s, err := e.Stream(ctx, engine.StreamConfig{
		Name:       Stream,
		Subjects:   []string{"audit.>"},
		MaxAge:     opts.MaxAge,
		Duplicates: dedupe,
		DenyDelete: true,
		DenyPurge:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &Log{s: s, opts: opts}, nil
}

// Lookup returns a Log on the existing AUDIT stream, leaving its limits as
// the console set them (Open sets its own): for readers such as wsdeck
// audit. It returns an error wrapping engine.ErrNotFound if the stream
// does not exist yet.
func Lookup(ctx context.Context, e *engine.Engine) (*Log, error) {
	s, err := e.LookupStream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &Log{s: s}, nil
}

// Stream returns the stream the log writes to.
func (l *Log) Stream() *engine.Stream { return l.s }

// Write stores rec (its Time set to now if zero, its Seq and Prev
// cleared) and returns its sequence in the stream, once the stream has
// acknowledged it; then it appends a copy to the export file, if any. The
// record's job and event make its message id: a retried Write of the
// same record is stored once. An error means the record may not be
// stored, and whatever it was to record must not happen.
func (l *Log) Write(ctx context.Context, rec Record) (uint64, error) {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	rec.Seq, rec.Prev = 0, ""
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	id := ""
	if rec.Job != "" {
		id = "job-" + rec.Job + "-" + rec.Event
	}
	if l.opts.Export != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	seq, err := l.s.Publish(ctx, SubjectJobs, b, id)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	if l.opts.Export != nil && seq > l.exported { // not a retry the stream dropped
		l.exported = seq
		if err := l.opts.Export.Write(rec); err != nil {
			return seq, fmt.Errorf("audit export: %w", err)
		}
	}
	return seq, nil
}

// Read returns up to limit records from sequence from (0: the oldest),
// oldest first, each with its Seq set to the stream's sequence.
func Read(ctx context.Context, s *engine.Stream, from uint64, limit int) ([]Record, error) {
	msgs, err := s.Read(ctx, engine.ReadOptions{From: from, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	out := make([]Record, 0, len(msgs))
	for _, m := range msgs {
		r, err := decode(m)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Follow calls fn with every record stored from sequence from (0: only
// new ones), in order, until ctx is done; it then returns ctx's error, or
// the first error fn returns.
func Follow(ctx context.Context, s *engine.Stream, from uint64, fn func(Record) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sub, err := s.Subscribe(ctx, engine.SubscribeOptions{From: from}, func(m engine.Msg) {
		r, err := decode(m)
		if err == nil {
			err = fn(r)
		}
		if err != nil {
			cancel(err)
		}
	})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	<-ctx.Done()
	sub.Stop()
	return context.Cause(ctx)
}

func decode(m engine.Msg) (Record, error) {
	var r Record
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return r, fmt.Errorf("audit: entry %d: %w", m.Seq, err)
	}
	r.Seq = m.Seq
	return r, nil
}
