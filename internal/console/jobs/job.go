package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"wsdeck/internal/fleet/batch"
	"wsdeck/websocket"
)

// job is one run of batch.Run and what viewers need of it: the events not
// yet sent, and a replay for viewers who arrive later.
//
// Its fields are guarded by the Service's mu, except lines, which only the
// batch handler (one goroutine at a time) uses.
type job struct {
	info   jobInfo
	cancel context.CancelFunc
	done   chan struct{} // closed when the job has ended and its record is written

	lines batch.LineSplitter // handler only

	pending      []json.RawMessage // events not yet sent
	pendingBytes int
	seq          int // events added so far
	flushed      int // events sent to viewers so far: pending are those after

	// The replay: every event but output lines, which are kept up to
	// Options.ReplayBytes, oldest dropped first.
	replay      []replayEntry
	replayBytes int // bytes of the output events in replay
	holes       int // dropped entries in replay
	trimFrom    int // entries of replay before it hold no output to drop
	skipped     int // output lines dropped from the replay

	termBytes int64 // output bytes sent to viewers
	muted     bool  // over Options.MaxTerminal: output is no longer sent
	ended     bool
}

// replayEntry is an event kept for viewers who arrive later: an output
// event, whose oldest lines may be dropped, or any other, encoded.
type replayEntry struct {
	seq int
	raw json.RawMessage // not output; nil once dropped
	out *outputEvent    // output; nil once dropped
}

// addLocked records ev for sending and for the replay.
func (s *Service) addLocked(j *job, ev any) {
	raw := json.RawMessage(mustJSON(ev))
	j.seq++
	j.pending = append(j.pending, raw)
	j.pendingBytes += len(raw)
	e := replayEntry{seq: j.seq}
	if out, ok := ev.(outputEvent); ok {
		e.out = &out
		for _, l := range out.Lines {
			j.replayBytes += len(l) + 1
		}
	} else {
		e.raw = raw
	}
	j.replay = append(j.replay, e)
	s.trimReplayLocked(j)
	if j.pendingBytes >= s.opts.MaxBatch {
		s.flushLocked(j)
	}
}

// trimReplayLocked drops the oldest output lines from the replay until it
// holds at most Options.ReplayBytes of them, compacting the slice when
// half of it is holes: trimming is amortized O(1) per line.
func (s *Service) trimReplayLocked(j *job) {
	i := j.trimFrom
	for ; i < len(j.replay) && j.replayBytes > s.opts.ReplayBytes; i++ {
		out := j.replay[i].out
		if out == nil {
			continue
		}
		k := 0
		for ; k < len(out.Lines) && j.replayBytes > s.opts.ReplayBytes; k++ {
			j.replayBytes -= len(out.Lines[k]) + 1
		}
		j.skipped += k
		if out.Lines = out.Lines[k:]; len(out.Lines) > 0 {
			break // within the budget, with this event's last lines
		}
		j.replay[i].out = nil
		j.holes++
	}
	j.trimFrom = i
	if j.holes*2 < len(j.replay) {
		return
	}
	j.holes, j.trimFrom = 0, 0
	kept := j.replay[:0]
	for _, e := range j.replay {
		if e.raw != nil || e.out != nil {
			kept = append(kept, e)
		}
	}
	clear(j.replay[len(kept):])
	j.replay = kept
}

// flushLocked sends the pending events, encoded once, to every viewer.
func (s *Service) flushLocked(j *job) {
	if len(j.pending) == 0 {
		return
	}
	b := mustJSON(eventsMessage{Type: "events", Job: j.info.ID, Events: j.pending})
	j.pending, j.pendingBytes, j.flushed = nil, 0, j.seq
	pm, _ := websocket.NewPreparedMessage(websocket.MessageText, b)
	for v := range s.viewers {
		v.Send(pm)
	}
}

// replayLocked sends a new viewer the job and what happened so far.
func (s *Service) replayLocked(v viewer, j *job) {
	v.SendOwn(mustJSON(jobMessage{Type: "job", Job: j.info, Replay: true}))
	// The pending events are sent to everyone at the next flush, this
	// viewer included: the replay stops before them.
	var events []json.RawMessage
	for _, e := range j.replay {
		if e.seq > j.flushed {
			break
		}
		switch {
		case e.raw != nil:
			events = append(events, e.raw)
		case e.out != nil:
			events = append(events, mustJSON(*e.out))
		}
	}
	if len(events) > 0 || j.skipped > 0 {
		v.SendOwn(mustJSON(eventsMessage{Type: "events", Job: j.info.ID, Events: events, Skipped: j.skipped}))
	}
}

// handle is the batch handler of job j: it turns engine events into wire
// events (the summary is run's, see end). batch.Run calls it from one
// goroutine at a time.
func (s *Service) handle(j *job, ev batch.Event) {
	switch ev.Type {
	case batch.EventStarted:
		s.mu.Lock()
		s.addLocked(j, startedEvent{E: "started", Index: ev.Index})
		s.mu.Unlock()
	case batch.EventOutput:
		var lines []string
		j.lines.Write(ev.Index, ev.Stream, ev.Data, func(line []byte) {
			lines = append(lines, terminalText(line))
		})
		s.output(j, ev.Index, ev.Stream, lines)
	case batch.EventCapped:
		s.mu.Lock()
		s.addLocked(j, cappedEvent{E: "capped", Index: ev.Index, Stream: ev.Stream})
		s.mu.Unlock()
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
		s.mu.Lock()
		s.addLocked(j, finishedEvent{E: "finished", Index: ev.Index, Result: &r})
		s.mu.Unlock()
	case batch.EventWarning:
		s.mu.Lock()
		s.addLocked(j, warningEvent{E: "warning", Message: terminalString(ev.Message)})
		s.mu.Unlock()
	}
}

// output records lines of one host's stream, unless the job's output has
// gone over Options.MaxTerminal.
func (s *Service) output(j *job, index int, st batch.Stream, lines []string) {
	if len(lines) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.muted {
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
	if fit > 0 {
		s.addLocked(j, outputEvent{E: "out", Index: index, Stream: st, Lines: lines[:fit]})
	}
	if j.muted {
		s.addLocked(j, mutedEvent{E: "muted", Limit: s.opts.MaxTerminal})
	}
}

// flusher flushes the running job's pending events every
// Options.FlushInterval until it ends.
func (s *Service) flusher(j *job) {
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-j.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.flushLocked(j)
		s.mu.Unlock()
	}
}
