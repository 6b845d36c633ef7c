package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// Engine names of the jobs' state.
const (
	StreamName = "JOBS"
	BucketName = "jobs"
)

func eventsSubject(id string) string { return "jobs." + id + ".events" }
func stateSubject(id string) string  { return "jobs." + id + ".state" }

// statesSubject matches every job's state announcements.
const statesSubject = "jobs.*.state"

// indexed is what a node knows of a job from its watch of the bucket.
type indexed struct {
	rec  *Record   // without Hosts
	rev  uint64    // the bucket revision of rec
	seen time.Time // when this node saw that revision arrive (its own clock)
}

// openStore creates or updates the stream and the bucket.
func (s *Service) openStore(ctx context.Context) error {
	st, err := s.eng.Stream(ctx, engine.StreamConfig{
		Name:     StreamName,
		Subjects: []string{"jobs.>"},
		MaxBytes: s.opts.HistoryBytes,
		MaxAge:   s.opts.HistoryAge,
	})
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	b, err := s.eng.Bucket(ctx, engine.BucketConfig{Name: BucketName, TTL: s.opts.HistoryAge})
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	slots, err := s.eng.Bucket(ctx, engine.BucketConfig{Name: slotsBucket})
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	s.stream, s.bucket, s.slots = st, b, slots
	return nil
}

// watchRecords keeps the index up to date from the bucket, and returns
// once it holds every record there was.
func (s *Service) watchRecords(ctx context.Context) error {
	w, err := s.bucket.Watch(context.WithoutCancel(ctx), "", s.observe)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	s.watcher = w
	select {
	case <-w.Ready():
		return nil
	case <-ctx.Done():
		w.Stop()
		return fmt.Errorf("exec: reading the job history: %w", ctx.Err())
	}
}

// observe takes a change of the bucket into the index, and acts on what
// concerns a job this node runs: a cancel asked from elsewhere, or the
// job marked ended by another node.
func (s *Service) observe(e engine.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Op != engine.OpPut {
		delete(s.index, e.Key)
		return
	}
	rec, err := unmarshalRecord(e.Value)
	if err != nil {
		s.opts.Logger.Warn("exec: a job record that is not one", "key", e.Key, "err", err)
		return
	}
	if old, ok := s.index[e.Key]; ok && old.rev >= e.Revision {
		return
	}
	rec.Hosts = nil
	s.index[e.Key] = &indexed{rec: rec, rev: e.Revision, seen: s.now()}
	if j := s.local[rec.ID]; j != nil && (rec.CancelBy != "" || rec.State != StateRunning) {
		if rec.State != StateRunning {
			s.opts.Logger.Warn("exec: a job of this node was marked ended elsewhere: cancelling it", "job", rec.ID, "state", rec.State)
		} else {
			s.opts.Logger.Info("exec: job cancelled", "job", rec.ID, "client", rec.CancelBy)
		}
		j.cancel()
	}
}

// noteLocked records a revision this node wrote, before its watch
// delivers it.
func (s *Service) noteLocked(rec *Record, rev uint64) {
	if old, ok := s.index[rec.ID]; ok && old.rev >= rev {
		return
	}
	c := *rec
	c.Hosts = nil
	s.index[rec.ID] = &indexed{rec: &c, rev: rev, seen: s.now()}
}

// getRecord reads a job's whole record (with its hosts) from the bucket.
func (s *Service) getRecord(ctx context.Context, id string) (*Record, uint64, error) {
	e, err := s.bucket.Get(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	rec, err := unmarshalRecord(e.Value)
	return rec, e.Revision, err
}

// updateRecord applies change to the job's record with a compare-and-set,
// reading it again when another node wrote it meanwhile. change returns
// false to leave the record as it is. It returns the record as written
// (or left).
func (s *Service) updateRecord(ctx context.Context, id string, change func(*Record) bool) (*Record, error) {
	for range 10 {
		rec, rev, err := s.getRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		if !change(rec) {
			return rec, nil
		}
		n, err := s.bucket.Update(ctx, id, rec.marshal(), rev)
		if errors.Is(err, engine.ErrRevision) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.noteLocked(rec, n)
		s.mu.Unlock()
		return rec, nil
	}
	return nil, fmt.Errorf("job %s: the record keeps changing", id)
}

// list returns the records of the index that f selects, newest first.
func (s *Service) list(f Filter) []*Record {
	if f.Limit <= 0 {
		f.Limit = DefaultListLimit
	}
	f.Limit = min(f.Limit, MaxListLimit)
	s.mu.Lock()
	recs := make([]*Record, 0, len(s.index))
	for _, x := range s.index {
		if f.match(x.rec) {
			recs = append(recs, x.rec)
		}
	}
	s.mu.Unlock()
	sortNewest(recs)
	return recs[:min(len(recs), f.Limit)]
}

// List returns the jobs of the history that f selects, newest first,
// without their hosts.
func (s *Service) List(f Filter) []Record {
	recs := s.list(f)
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = *r
	}
	return out
}

// prune removes the oldest ended jobs beyond Options.MaxHistory: their
// records and their events.
func (s *Service) prune(ctx context.Context) {
	s.mu.Lock()
	n := len(s.index) - s.opts.MaxHistory
	var old []*Record
	if n > 0 {
		for _, x := range s.index {
			if x.rec.State != StateRunning {
				old = append(old, x.rec)
			}
		}
	}
	s.mu.Unlock()
	if n <= 0 {
		return
	}
	sortNewest(old)
	for _, r := range old[max(0, len(old)-n):] {
		if err := s.bucket.Delete(ctx, r.ID); err != nil {
			s.opts.Logger.Warn("exec: pruning the history", "job", r.ID, "err", err)
			return
		}
		if err := s.stream.Purge(ctx, "jobs."+r.ID+".>"); err != nil {
			s.opts.Logger.Warn("exec: pruning the history", "job", r.ID, "err", err)
		}
		s.mu.Lock()
		delete(s.index, r.ID)
		s.mu.Unlock()
	}
}
