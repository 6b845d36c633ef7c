package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// publishTimeout bounds one publish of a job's events or record.
const publishTimeout = 10 * time.Second

// job is a job this node runs: the events not yet published, and what the
// output cap has let through.
type job struct {
	rec    *Record // the record as this node last wrote it; guarded by the Service's mu once running
	start  audit.Record
	cancel context.CancelFunc
	done   chan struct{} // closed when the job has ended and its records are written

	lines batch.LineSplitter // the batch handler's only

	pubMu sync.Mutex // held while a batch is published: batches go out in order

	mu           sync.Mutex
	pending      []json.RawMessage // guarded by mu: events not yet published
	pendingBytes int               // guarded by mu
	termBytes    int64             // guarded by mu: output bytes published
	muted        bool              // guarded by mu: over Options.MaxTerminal
	lost         int               // guarded by mu: batches the stream refused
	lastSeq      uint64            // guarded by mu: the stream sequence of the last batch published
}

// add queues ev for publishing, publishing the batch when it is full.
func (s *Service) add(j *job, evs ...any) {
	j.mu.Lock()
	for _, ev := range evs {
		raw := json.RawMessage(mustJSON(ev))
		j.pending = append(j.pending, raw)
		j.pendingBytes += len(raw)
	}
	full := j.pendingBytes >= s.opts.MaxBatch
	j.mu.Unlock()
	if full {
		s.flush(j)
	}
}

// flush publishes the pending events as one entry of the job's subject.
func (s *Service) flush(j *job) {
	j.pubMu.Lock()
	defer j.pubMu.Unlock()
	j.mu.Lock()
	events := j.pending
	j.pending, j.pendingBytes = nil, 0
	j.mu.Unlock()
	if len(events) == 0 {
		return
	}
	b := mustJSON(eventsMessage{Type: "events", Job: j.rec.ID, Events: events})
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	seq, err := s.stream.Publish(ctx, eventsSubject(j.rec.ID), b, "")
	if err == nil {
		j.mu.Lock()
		j.lastSeq = seq
		j.mu.Unlock()
	}
	if err != nil {
		j.mu.Lock()
		j.lost++
		lost := j.lost
		j.mu.Unlock()
		if lost == 1 || lost%100 == 0 {
			s.opts.Logger.Error("exec: job events lost: the stream refused them", "job", j.rec.ID, "batches", lost, "err", err)
		}
	}
}

// flusher publishes the job's pending events every Options.FlushInterval
// until it ends.
func (s *Service) flusher(j *job) {
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-j.done:
			return
		case <-t.C:
			s.flush(j)
		}
	}
}

// run runs job j and ends it (see finish).
func (s *Service) run(ctx context.Context, j *job, cfg batch.Config) {
	defer j.cancel()
	results := make([]*batch.Result, len(cfg.Targets))
	var sum *batch.Summary
	_, err := batch.Run(ctx, cfg, func(ev batch.Event) {
		switch ev.Type {
		case batch.EventFinished:
			results[ev.Index] = ev.Result
		case batch.EventSummary:
			sum = ev.Summary
			return
		}
		s.handle(j, ev)
	})
	why := ""
	if sum == nil {
		// The engine refused the job (the config was checked, so this
		// is a bug or the environment, such as no home directory).
		// Viewers wait for a summary: give them one.
		why = "no summary"
		if err != nil {
			why = err.Error()
		}
		s.opts.Logger.Error("exec: job did not run", "job", j.rec.ID, "err", why)
		n := len(cfg.Targets)
		sum = &batch.Summary{Total: n, Failed: n, FailedHosts: j.rec.Folded}
		why = "the job did not run: " + why
	}
	s.finish(context.Background(), j, results, sum, why)
	s.opts.Logger.Info("exec: job ended", "job", j.rec.ID, "summary", sum.String())
}

// stateOf names how a job ended.
func stateOf(sum *batch.Summary) string {
	switch {
	case sum.Canceled:
		return StateCancelled
	case sum.Failed > 0:
		return StateFailed
	}
	return StateDone
}

// finish ends job j: its audit end record, its record's final state, its
// summary event and its announcement, in that order, so that a viewer who
// has the summary may start the next job at once, and the audit log has
// this one's end before that one's start. why, if set, replaces the
// summary's text.
func (s *Service) finish(ctx context.Context, j *job, results []*batch.Result, sum *batch.Summary, why string) {
	defer close(j.done)
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	state, text := stateOf(sum), sum.String()
	if why != "" {
		text = why
	}
	if s.opts.Audit != nil {
		end := audit.EndRecord(j.start, results, sum)
		end.State = state
		if _, err := s.opts.Audit.Write(ctx, end); err != nil {
			s.opts.Logger.Error("exec: audit log", "job", j.rec.ID, "err", err)
		}
	}
	s.mu.Lock()
	delete(s.local, j.rec.ID) // no more heartbeats, nor cancels
	s.mu.Unlock()
	s.release(ctx, j.rec.ID) // before the record says it ended: who sees that may start another
	rec, err := s.updateRecord(ctx, j.rec.ID, func(r *Record) bool {
		if r.State != StateRunning {
			return false // another node marked it interrupted: that stands
		}
		r.State, r.Ended, r.OK, r.Failed, r.Summary = state, time.Now().UTC(), sum.OK, sum.Failed, text
		r.Beat = time.Time{}
		return true
	})
	if err != nil {
		s.opts.Logger.Error("exec: job record", "job", j.rec.ID, "err", err)
		rec = j.rec
	}
	s.add(j, summaryEvent{E: "summary", Summary: sum, Text: text, State: state})
	s.flush(j)
	s.announce(ctx, rec)
	s.prune(ctx)
}

// handle is the batch handler of job j: it turns engine events into wire
// events (the summary is run's, see finish). batch.Run calls it from one
// goroutine at a time.
func (s *Service) handle(j *job, ev batch.Event) {
	switch ev.Type {
	case batch.EventStarted:
		s.add(j, startedEvent{E: "started", Index: ev.Index})
	case batch.EventOutput:
		var lines []string
		j.lines.Write(ev.Index, ev.Stream, ev.Data, func(line []byte) {
			lines = append(lines, terminalText(line))
		})
		s.output(j, ev.Index, ev.Stream, lines)
	case batch.EventCapped:
		s.add(j, cappedEvent{E: "capped", Index: ev.Index, Stream: ev.Stream})
	case batch.EventFinished:
		var out, errs []string
		j.lines.Flush(ev.Index, func(st batch.Stream, line []byte) {
			if st == batch.Stderr {
				errs = append(errs, terminalText(line))
			} else {
				out = append(out, terminalText(line))
			}
		})
		s.output(j, ev.Index, batch.Stdout, out)
		s.output(j, ev.Index, batch.Stderr, errs)
		// The error may hold the host's words (an exit message): the page
		// shows it in the terminal too. The audit record keeps it as it was.
		r := *ev.Result
		if r.Err != nil {
			r.Err = errors.New(terminalString(r.Err.Error()))
		}
		s.add(j, finishedEvent{E: "finished", Index: ev.Index, Result: &r})
	case batch.EventWarning:
		s.add(j, warningEvent{E: "warning", Message: terminalString(ev.Message)})
	}
}

// output queues lines of one host's stream, unless the job's output has
// gone over Options.MaxTerminal: the lines that fit whole, then a muted
// event.
func (s *Service) output(j *job, index int, st batch.Stream, lines []string) {
	if len(lines) == 0 {
		return
	}
	j.mu.Lock()
	if j.muted {
		j.mu.Unlock()
		return
	}
	fit := 0
	for _, l := range lines {
		n := int64(len(l)) + 1
		if j.termBytes+n > s.opts.MaxTerminal {
			j.muted = true
			break
		}
		j.termBytes += n
		fit++
	}
	muted := j.muted
	j.mu.Unlock()
	var evs []any
	if fit > 0 {
		evs = append(evs, outputEvent{E: "out", Index: index, Stream: st, Lines: lines[:fit]})
	}
	if muted {
		evs = append(evs, mutedEvent{E: "muted", Limit: s.opts.MaxTerminal})
	}
	s.add(j, evs...)
}
