package recording

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// Recording is one session's recording in progress. It implements
// record.Recorder and record.IDer: the session calls Output, Input, Resize
// and Close from one goroutine at a time; none of them waits for the
// engine (a goroutine of the recording stores its segments).
type Recording struct {
	s    *Store
	enc  *encoder // guarded by mu
	kick chan struct{}
	full chan segment // full segments waiting to be stored
	done chan struct{}

	mu     sync.Mutex
	info   Info   // guarded by mu
	seg    []byte // the segment being written; guarded by mu
	segNo  int    // its number; guarded by mu
	dirty  bool   // seg changed since last stored; guarded by mu
	closed bool   // guarded by mu
}

type segment struct {
	no   int
	data []byte
}

// Start begins the recording of the session meta describes: its index
// entry is written before it returns. Its id is the session's id with its
// dots as dashes when that is a valid one (letters, digits, - and _), else a
// random one.
func (s *Store) Start(meta record.SessionMeta) (*Recording, error) {
	id := strings.ReplaceAll(meta.ID, ".", "-")
	if !validID(id) {
		var b [12]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	start := meta.Start
	if start.IsZero() {
		start = time.Now()
	}
	user := meta.User
	if user == "" {
		user = "admin"
	}
	r := &Recording{
		s:    s,
		enc:  newEncoder(start),
		kick: make(chan struct{}, 1),
		full: make(chan segment, s.opts.Pending),
		done: make(chan struct{}),
		info: Info{ID: id, Session: meta.ID, User: user, Role: meta.Role, Host: meta.Host, Node: meta.Node,
			Start: start, Cols: meta.Cols, Rows: meta.Rows, Input: s.opts.Input, Segments: 1},
	}
	term := meta.Term
	if term == "" {
		term = "xterm-256color"
	}
	sh := meta.Shell
	if sh == "" {
		sh = "login shell"
	}
	r.seg = r.enc.header(Header{Width: meta.Cols, Height: meta.Rows,
		Env: map[string]string{"TERM": term, "SHELL": sh}, Title: user + "@" + meta.Host})
	r.info.Size = int64(len(r.seg))
	r.dirty = true

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("recording %s: the store is closed", id)
	}
	s.active[id] = r
	s.wg.Add(1)
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := r.storeIndex(ctx, r.info)
	cancel()
	if err != nil {
		s.mu.Lock()
		delete(s.active, id)
		s.mu.Unlock()
		s.wg.Done()
		return nil, err
	}
	go r.pump()
	return r, nil
}

// RecordingID returns the id the recording is stored under.
func (r *Recording) RecordingID() string { return r.info.ID }

// Done is closed once the recording has been closed and stored whole.
func (r *Recording) Done() <-chan struct{} { return r.done }

// Output records what the terminal wrote.
func (r *Recording) Output(t time.Time, p []byte) { r.data(t, KindOutput, p) }

// Input records what a page typed, when the store records input.
func (r *Recording) Input(t time.Time, p []byte) {
	if r.s.opts.Input {
		r.data(t, KindInput, p)
	}
}

// Resize records a new terminal size.
func (r *Recording) Resize(t time.Time, cols, rows int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.append(r.enc.resize(t, cols, rows))
}

func (r *Recording) data(t time.Time, kind string, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if line := r.enc.data(t, kind, p); line != nil {
		r.append(line)
	}
}

// append adds line to the recording, within its bounds. r.mu is held.
func (r *Recording) append(line []byte) {
	if r.info.Truncated {
		return
	}
	if r.info.Size+int64(len(line)) > r.s.opts.MaxBytes {
		r.info.Truncated = true
		return
	}
	if len(r.seg) >= r.s.opts.SegmentBytes {
		select {
		case r.full <- segment{no: r.segNo, data: r.seg}:
			r.segNo++
			r.info.Segments = r.segNo + 1
			r.seg = make([]byte, 0, min(r.s.opts.SegmentBytes+len(line), 2*r.s.opts.SegmentBytes))
		default: // the store is behind: drop rather than grow
			r.info.Dropped++
			return
		}
	}
	r.seg = append(r.seg, line...)
	r.info.Size += int64(len(line))
	r.dirty = true
}

// Close ends the recording at end; the rest is stored in the background
// (Done tells when).
func (r *Recording) Close(end time.Time) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.info.End = end
	r.info.Duration = max(end.Sub(r.info.Start).Seconds(), r.enc.last)
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// pump stores full segments as they come, the current one every Flush
// while it changes, and everything at Close.
func (r *Recording) pump() {
	defer r.s.wg.Done()
	defer close(r.done)
	t := time.NewTicker(r.s.opts.Flush)
	defer t.Stop()
	var beat <-chan time.Time // nil (never) for a Store that marks nothing
	if r.s.opts.Heartbeat > 0 {
		b := time.NewTicker(r.s.opts.Heartbeat)
		defer b.Stop()
		beat = b.C
	}
	for {
		select {
		case sg := <-r.full:
			r.put(sg)
			continue
		case <-beat:
			r.beat()
			continue
		case <-t.C:
		case <-r.kick:
		}
		r.mu.Lock()
		closed := r.closed
		var cur segment
		dirty := r.dirty
		if dirty {
			cur = segment{no: r.segNo, data: bytes.Clone(r.seg)}
			r.dirty = false
		}
		r.mu.Unlock()
		if closed {
			for {
				select {
				case sg := <-r.full:
					r.put(sg)
					continue
				default:
				}
				break
			}
			r.mu.Lock()
			cur = segment{no: r.segNo, data: bytes.Clone(r.seg)}
			r.info.Done = true
			r.mu.Unlock()
			r.put(cur)
			r.s.mu.Lock()
			delete(r.s.active, r.info.ID)
			r.s.mu.Unlock()
			r.s.prune()
			return
		}
		if dirty {
			r.put(cur)
		}
	}
}

// beat rewrites the index entry as it stands: a new revision, which tells
// every node this one still records it (see Store.reap).
func (r *Recording) beat() {
	r.mu.Lock()
	in := r.info
	r.mu.Unlock()
	if in.Done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(r.s.opts.Heartbeat, 5*time.Second))
	defer cancel()
	if err := r.storeIndex(ctx, in); err != nil {
		r.s.opts.Logf("recording %s: heartbeat: %v", in.ID, err)
	}
}

// put stores sg and then the index entry as it stands.
func (r *Recording) put(sg segment) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.s.objs.Put(ctx, segmentName(r.info.ID, sg.no), bytes.NewReader(sg.data)); err != nil {
		r.s.opts.Logf("recording %s: %v", r.info.ID, err)
		return
	}
	r.mu.Lock()
	in := r.info
	r.mu.Unlock()
	if err := r.storeIndex(ctx, in); err != nil {
		r.s.opts.Logf("%v", err)
	}
}

// storeIndex writes in as the recording's index entry, with the time as
// its Beat while it records.
func (r *Recording) storeIndex(ctx context.Context, in Info) error {
	if !in.Done {
		in.Beat = time.Now().UTC()
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("recording %s: index entry: %w", in.ID, err)
	}
	rev, err := r.s.index.Put(ctx, in.ID, b)
	if err != nil {
		return fmt.Errorf("recording %s: index: %w", in.ID, err)
	}
	r.s.note(engine.Entry{Key: in.ID, Value: b, Revision: rev, Op: engine.OpPut})
	return nil
}

var (
	_ record.Recorder = (*Recording)(nil)
	_ record.IDer     = (*Recording)(nil)
)
