package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// maxReplayEntries bounds the entries of a job read for a viewer who opens
// it: far more than the output cap and the results make (a batch holds up
// to Options.MaxBatch bytes, or FlushInterval's worth).
const maxReplayEntries = 1 << 20

// jobTopic is a job's topic on this node and how many viewers hold it.
type jobTopic struct {
	t     *topic.Topic
	users int // guarded by the Service's mu
}

// conn is where a viewer's frames go: a *socket.Conn.
type conn interface {
	topic.Sink
	SendOwn(b []byte) bool
}

// viewer is one connection's view: the job it has open.
type viewer struct {
	s *Service
	c conn

	mu    sync.Mutex // serializes open and close
	job   string     // guarded by mu: the job open, or ""
	t     *jobTopic  // guarded by mu
	audit bool       // guarded by mu: following the audit log
}

func (v *viewer) opened() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.job
}

// open shows the viewer job id: its record, then its events so far (the
// last Options.ReplayBytes of output and every other event), then its
// events live. Opening the job open already does nothing.
func (v *viewer) open(ctx context.Context, id string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if id == v.job {
		return nil
	}
	rec, _, err := v.s.getRecord(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return socket.Errorf(CodeNoJob, "no job %q in the history", id)
	}
	if err != nil {
		return socket.Errorf(CodeEngine, "job %s: %v", id, err)
	}
	v.leaveLocked()
	t, err := v.s.holdTopic(id)
	if err != nil {
		return err
	}
	err = t.t.Join(ctx, v.c, topic.From{Seq: 1, Max: maxReplayEntries}, func(b topic.Backlog) {
		v.c.SendOwn(mustJSON(jobMessage{Type: "job", Job: *rec, Replay: true}))
		if m := v.s.replay(id, b.Msgs); len(m.Events) > 0 || m.Skipped > 0 {
			v.c.SendOwn(mustJSON(m))
		}
	})
	if err != nil {
		v.s.releaseTopic(id, t)
		return socket.Errorf(CodeEngine, "job %s: %v", id, err)
	}
	v.job, v.t = id, t
	return nil
}

func (v *viewer) leaveLocked() {
	if v.t == nil {
		return
	}
	v.t.t.Leave(v.c)
	v.s.releaseTopic(v.job, v.t)
	v.job, v.t = "", nil
}

// close leaves the job open, if any.
func (v *viewer) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.leaveLocked()
	if v.audit {
		v.s.auditTopic.Leave(v.c)
		v.audit = false
	}
}

// holdTopic returns job id's topic on this node, made if none holds it.
func (s *Service) holdTopic(id string) (*jobTopic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, socket.Errorf(socket.CodeInternal, "the console is shutting down")
	}
	t := s.topics[id]
	if t == nil {
		t = &jobTopic{t: topic.New(s.stream, topic.Options{Subject: eventsSubject(id), Log: s.opts.Logger})}
		s.topics[id] = t
	}
	t.users++
	return t, nil
}

// releaseTopic drops a hold of job id's topic, closing it with the last.
func (s *Service) releaseTopic(id string, t *jobTopic) {
	s.mu.Lock()
	t.users--
	last := t.users == 0 && s.topics[id] == t
	if last {
		delete(s.topics, id)
	}
	s.mu.Unlock()
	if last {
		t.t.Close()
	}
}

// replay makes the events message a viewer who opens a job is given: the
// events of msgs, with the oldest output lines beyond Options.ReplayBytes
// left out (and counted in Skipped).
func (s *Service) replay(id string, msgs []engine.Msg) eventsMessage {
	// Output events are decoded as they were encoded, their stream
	// name kept as it is.
	type output struct {
		E      string          `json:"e"`
		Index  int             `json:"i"`
		Stream json.RawMessage `json:"s"`
		Lines  []string        `json:"lines"`
	}
	type entry struct {
		raw json.RawMessage // not output
		out *output         // output
	}
	var (
		entries []entry
		bytes   int
	)
	for _, m := range msgs {
		var em struct {
			Events []json.RawMessage `json:"events"`
		}
		if json.Unmarshal(m.Data, &em) != nil {
			continue
		}
		for _, raw := range em.Events {
			var head struct {
				E string `json:"e"`
			}
			if json.Unmarshal(raw, &head) != nil {
				continue
			}
			if head.E != "out" {
				entries = append(entries, entry{raw: raw})
				continue
			}
			var out output
			if json.Unmarshal(raw, &out) != nil {
				continue
			}
			for _, l := range out.Lines {
				bytes += len(l) + 1
			}
			entries = append(entries, entry{out: &out})
		}
	}
	skipped := 0
	for i := 0; i < len(entries) && bytes > s.opts.ReplayBytes; i++ {
		out := entries[i].out
		if out == nil {
			continue
		}
		k := 0
		for ; k < len(out.Lines) && bytes > s.opts.ReplayBytes; k++ {
			bytes -= len(out.Lines[k]) + 1
		}
		skipped += k
		out.Lines = out.Lines[k:]
	}
	m := eventsMessage{Type: "events", Job: id, Skipped: skipped}
	for _, e := range entries {
		switch {
		case e.raw != nil:
			m.Events = append(m.Events, e.raw)
		case len(e.out.Lines) > 0:
			m.Events = append(m.Events, mustJSON(*e.out))
		}
	}
	return m
}
