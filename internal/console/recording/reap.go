package recording

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// A recording's node rewrites its index entry every Options.Heartbeat
// while it records (Recording.beat), as jobs' nodes do their records. Every
// Store watches the index; reapLoop marks interrupted each entry still in
// progress that no node records here and that has had no new revision for
// Options.Lapse, as this node's clock measures it. So a recording whose
// node died is marked within Lapse + Heartbeat of its last heartbeat (20
// seconds by default), as what was stored by then: all but at most the
// last Options.Flush of it.

// reapLoop runs reap every Heartbeat until Close.
func (s *Store) reapLoop() {
	defer close(s.reaped)
	if s.opts.Heartbeat < 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), max(s.opts.Heartbeat, 10*time.Second))
		s.reap(ctx)
		cancel()
	}
}

// reap marks interrupted the recordings in progress whose entries have
// lapsed.
func (s *Store) reap(ctx context.Context) {
	now := time.Now()
	var lapsed []known
	s.mu.Lock()
	for id, k := range s.known {
		if !k.gone && !k.Done && s.active[id] == nil && now.Sub(k.seen) > s.opts.Lapse {
			lapsed = append(lapsed, k)
		}
	}
	s.mu.Unlock()
	for _, k := range lapsed {
		if err := s.interrupt(ctx, k); err != nil {
			s.opts.Logf("%v", err)
		}
	}
}

// interrupt marks k's recording interrupted, ended as what is stored of
// it, unless its entry has changed since k (this node's watch may be what
// lapsed): a compare-and-set, so of the nodes that try, one does it, and a
// node still recording it wins by its next heartbeat.
func (s *Store) interrupt(ctx context.Context, k known) error {
	en, err := s.index.Get(ctx, k.ID)
	if errors.Is(err, engine.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recording %s: marking it interrupted: %w", k.ID, err)
	}
	if en.Revision != k.rev {
		s.note(en) // alive, or marked by another node
		return nil
	}
	var in Info
	if err := json.Unmarshal(en.Value, &in); err != nil {
		return fmt.Errorf("recording %s: index entry: %w", k.ID, err)
	}
	if in.Done {
		return nil
	}
	segs, size, last, err := s.stored(ctx, in)
	if err != nil {
		return fmt.Errorf("recording %s: marking it interrupted: %w", k.ID, err)
	}
	in.Done, in.Interrupted = true, true
	in.Segments, in.Size, in.Duration = segs, size, last
	in.End = in.Beat
	if in.End.IsZero() {
		in.End = in.Start.Add(time.Duration(last * float64(time.Second)))
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("recording %s: index entry: %w", in.ID, err)
	}
	rev, err := s.index.Update(ctx, in.ID, b, en.Revision)
	if errors.Is(err, engine.ErrRevision) {
		return nil // written meanwhile: its node is alive, or another node marked it
	}
	if err != nil {
		return fmt.Errorf("recording %s: marking it interrupted: %w", in.ID, err)
	}
	s.note(engine.Entry{Key: in.ID, Value: b, Revision: rev, Op: engine.OpPut})
	s.opts.Logf("recording %s: interrupted: node %s stopped recording it (last heartbeat %s); kept the %d bytes it had stored",
		in.ID, in.Node, in.Beat.Format(time.RFC3339), size)
	if s.opts.Interrupted != nil {
		s.opts.Interrupted(in)
	}
	return nil
}

// stored returns what the object store holds of in: its segments up to
// the first missing one, their bytes, and the time of the last event in
// them (seconds from the start).
func (s *Store) stored(ctx context.Context, in Info) (segs int, size int64, last float64, err error) {
	for segs < in.Segments {
		oi, err := s.objs.Stat(ctx, segmentName(in.ID, segs))
		if errors.Is(err, engine.ErrNotFound) {
			break
		}
		if err != nil {
			return 0, 0, 0, err
		}
		size += int64(oi.Size)
		segs++
	}
	if segs == 0 {
		return 0, 0, 0, nil
	}
	rc, _, err := s.objs.Get(ctx, segmentName(in.ID, segs-1))
	if err != nil {
		return 0, 0, 0, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return 0, 0, 0, err
	}
	return segs, size, lastEventTime(b), nil
}

// lastEventTime returns the time of the last whole event line of a
// segment ([seconds, kind, data]), 0 if it has none.
func lastEventTime(seg []byte) float64 {
	for len(seg) > 0 {
		seg = bytes.TrimRight(seg, "\n")
		i := bytes.LastIndexByte(seg, '\n')
		line := seg[i+1:]
		seg = seg[:max(i, 0)]
		var ev []json.RawMessage
		var t float64
		if json.Unmarshal(line, &ev) == nil && len(ev) == 3 && json.Unmarshal(ev[0], &t) == nil {
			return t
		}
		if i < 0 {
			break
		}
	}
	return 0
}
