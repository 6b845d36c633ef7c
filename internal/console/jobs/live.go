package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// heartbeat rewrites the records of this node's running jobs every
// Options.Heartbeat, and marks interrupted the running jobs of other
// nodes whose records have not changed for Options.Lapse, until Shutdown.
func (s *Service) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.base.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.base, max(s.opts.Heartbeat, publishTimeout))
		s.beat(ctx)
		s.reap(ctx)
		s.sweepSlots(ctx)
		cancel()
	}
}

// beat rewrites each running job's record with a new Beat: a new
// revision, which every node's watch sees.
func (s *Service) beat(ctx context.Context) {
	type todo struct {
		rec *Record
		rev uint64
	}
	var jobs []todo
	s.mu.Lock()
	for id, j := range s.local {
		if x := s.index[id]; x != nil && x.rec.State == StateRunning {
			jobs = append(jobs, todo{j.rec, x.rev})
		}
	}
	s.mu.Unlock()
	for _, t := range jobs {
		s.mu.Lock()
		rec := *t.rec
		if x := s.index[rec.ID]; x != nil {
			rec.CancelBy = x.rec.CancelBy // keep a cancel written elsewhere
		}
		s.mu.Unlock()
		rec.Beat = s.now().UTC()
		rev, err := s.bucket.Update(ctx, rec.ID, rec.marshal(), t.rev)
		if errors.Is(err, engine.ErrRevision) {
			continue // changed meanwhile: the watch brings the new revision for the next beat
		}
		if err != nil {
			s.opts.Logger.Warn("exec: heartbeat", "job", rec.ID, "err", err)
			continue
		}
		s.mu.Lock()
		s.noteLocked(&rec, rev)
		s.mu.Unlock()
	}
}

// reap marks interrupted each running job that no node has heartbeaten
// for Options.Lapse, as this node's clock measures it.
func (s *Service) reap(ctx context.Context) {
	now := s.now()
	var lapsed []*Record
	s.mu.Lock()
	for id, x := range s.index {
		if x.rec.State == StateRunning && s.local[id] == nil && now.Sub(x.seen) > s.opts.Lapse {
			lapsed = append(lapsed, x.rec)
		}
	}
	s.mu.Unlock()
	for _, r := range lapsed {
		// This node's watch may be what lapsed (its connection was down):
		// a revision it has not seen means the job's node is alive.
		rec, rev, err := s.getRecord(ctx, r.ID)
		if err != nil {
			continue
		}
		s.mu.Lock()
		fresh := s.index[r.ID] == nil || s.index[r.ID].rev < rev
		if fresh {
			s.noteLocked(rec, rev)
		}
		s.mu.Unlock()
		if !fresh {
			s.interrupt(ctx, r.ID)
		}
	}
}

// interrupt marks job id interrupted, if it still runs: its record (a
// compare-and-set: of the nodes that try, one does it), then its audit
// end record and a summary for its viewers.
func (s *Service) interrupt(ctx context.Context, id string) {
	var node string
	won := false
	rec, err := s.updateRecord(ctx, id, func(r *Record) bool {
		if r.State != StateRunning {
			return false
		}
		node, won = r.Node, true
		r.State, r.Ended = StateInterrupted, s.now().UTC()
		r.Failed = r.Total
		r.Summary = "interrupted: node " + r.Node + " stopped running it; how it ended is unknown"
		r.Beat = time.Time{}
		return true
	})
	if err != nil {
		s.opts.Logger.Warn("exec: marking a job interrupted", "job", id, "err", err)
		return
	}
	if !won {
		return
	}
	// The record says interrupted: what follows must be done, even if
	// this node is shutting down.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	s.opts.Logger.Warn("exec: job interrupted: its node stopped heartbeating", "job", id, "node", node)
	s.release(ctx, id)
	if s.opts.Audit != nil {
		end := audit.Record{
			Event: audit.EventEnd, Job: id, Client: rec.Client, Expression: rec.Expression, Hosts: rec.Total,
			Command: rec.Command, Node: node, State: StateInterrupted, Failed: rec.Total, RemoteAddr: rec.RemoteAddr,
			User: rec.person(), Method: rec.Method, Role: rec.Role,
		}
		if _, err := s.opts.Audit.Write(ctx, end); err != nil {
			s.opts.Logger.Error("exec: audit log", "job", id, "err", err)
		}
	}
	sum := &batch.Summary{Total: rec.Total, Failed: rec.Total, FailedHosts: rec.Folded}
	b := mustJSON(eventsMessage{Type: "events", Job: id, Events: []json.RawMessage{
		mustJSON(summaryEvent{E: "summary", Summary: sum, Text: rec.Summary, State: StateInterrupted}),
	}})
	if _, err := s.stream.Publish(ctx, eventsSubject(id), b, "interrupted-"+id); err != nil {
		s.opts.Logger.Warn("exec: job interrupted: its viewers were not told", "job", id, "err", err)
	}
	s.announce(ctx, rec)
}
