package recording

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// Names of the engine's object store and index bucket.
const (
	ObjectsName = "recordings"
	IndexName   = "recordings"
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 64 << 20
	DefaultSegmentBytes = 256 << 10
	DefaultPending      = 4
	DefaultFlush        = 10 * time.Second
	DefaultKeep         = 1000
	DefaultKeepBytes    = 4 << 30
	DefaultKeepAge      = 90 * 24 * time.Hour
	DefaultPruneEvery   = time.Hour
	DefaultHeartbeat    = 5 * time.Second
)

// Options configure a Store. The zero value means the defaults.
type Options struct {
	// Input records what the pages typed ("i" events) too.
	Input bool
	// MaxBytes caps one recording's size; beyond it the recording is
	// truncated.
	MaxBytes int64
	// SegmentBytes is the size a segment is stored at and a new one
	// begun; Pending is how many full segments may wait to be stored
	// before events are dropped.
	SegmentBytes int
	Pending      int
	// Flush is how often the segment being written is stored.
	Flush time.Duration
	// Keep, KeepBytes and KeepAge bound the recordings kept: the newest
	// Keep, as many as fit in KeepBytes, none older than KeepAge.
	Keep      int
	KeepBytes int64
	KeepAge   time.Duration
	// PruneEvery is how often retention is applied besides at each
	// recording's end; negative means never (a tool that only reads).
	PruneEvery time.Duration
	// Heartbeat is how often a node rewrites the index entries of its
	// recordings in progress; Lapse is how long an entry in progress may
	// go without a new revision before another node (or this one, after
	// a restart) marks it interrupted. 0 means DefaultHeartbeat and three
	// heartbeats; a negative Heartbeat means this Store marks nothing (a
	// tool that only reads).
	Heartbeat, Lapse time.Duration
	// Replicas is how many engine servers keep a copy (0: the engine's
	// default).
	Replicas int
	// Interrupted, if set, is called once a recording has been marked
	// interrupted, by the node that marked it (the console audits the
	// session's end with it, since its node could not).
	Interrupted func(Info)
	// Logf logs a failure to store; nil discards.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxBytes, DefaultMaxBytes)
	def(&o.KeepBytes, DefaultKeepBytes)
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Pending <= 0 {
		o.Pending = DefaultPending
	}
	if o.Flush <= 0 {
		o.Flush = DefaultFlush
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	if o.KeepAge <= 0 {
		o.KeepAge = DefaultKeepAge
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Lapse <= 0 {
		o.Lapse = 3 * o.Heartbeat // unused when Heartbeat < 0
	}
	if o.PruneEvery == 0 {
		o.PruneEvery = DefaultPruneEvery
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Info describes a recording: its index entry.
type Info struct {
	ID        string    `json:"id"`
	Session   string    `json:"session"`
	User      string    `json:"user"`
	Role      string    `json:"role,omitempty"`
	Host      string    `json:"host"`
	Node      string    `json:"node,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end,omitzero"`
	Duration  float64   `json:"duration"` // seconds
	Size      int64     `json:"size"`     // bytes of the .cast file
	Segments  int       `json:"segments"`
	Cols      int       `json:"cols"`
	Rows      int       `json:"rows"`
	Input     bool      `json:"input,omitempty"`     // input events recorded
	Truncated bool      `json:"truncated,omitempty"` // stopped at MaxBytes
	Dropped   int64     `json:"dropped,omitempty"`   // events lost to a slow store
	Done      bool      `json:"done"`                // the session has ended
	// Interrupted says the node recording it stopped heartbeating before
	// the session ended: the recording is what was stored by then.
	Interrupted bool `json:"interrupted,omitempty"`
	// Beat is when its node last rewrote the entry while recording (for
	// people: nodes go by the entry's revisions).
	Beat time.Time `json:"beat,omitzero"`
}

// Filter selects recordings; zero fields select all.
type Filter struct {
	User, Host   string
	Since, Until time.Time // the start within [Since, Until)
}

func (f Filter) match(in Info) bool {
	return (f.User == "" || in.User == f.User) && (f.Host == "" || in.Host == f.Host) &&
		(f.Since.IsZero() || !in.Start.Before(f.Since)) && (f.Until.IsZero() || in.Start.Before(f.Until))
}

// ErrNotFound is returned for an id with no recording.
var ErrNotFound = errors.New("no such recording")

// Store keeps recordings in the engine. Its methods may be called from any
// goroutine.
type Store struct {
	opts  Options
	objs  *engine.Objects
	index *engine.Bucket
	w     *engine.Watcher

	mu     sync.Mutex
	known  map[string]known      // the index as this node last saw it; guarded by mu
	active map[string]*Recording // recordings of this node not yet stored whole; guarded by mu
	closed bool                  // guarded by mu

	stop   chan struct{}
	done   chan struct{}  // closed when pruneLoop has returned
	reaped chan struct{}  // closed when reapLoop has returned
	wg     sync.WaitGroup // recordings' pumps
}

// known is an index entry and its revision.
type known struct {
	Info
	rev  uint64
	seen time.Time // when this node learnt of revision rev
	gone bool      // deleted by this node
}

// Open opens (creating them if need be) the recordings' object store and
// index in e, and returns the Store once it holds the index.
func Open(ctx context.Context, e *engine.Engine, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	objs, err := e.Objects(ctx, engine.ObjectsConfig{Name: ObjectsName, Replicas: opts.Replicas})
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	index, err := e.Bucket(ctx, engine.BucketConfig{Name: IndexName, Replicas: opts.Replicas, MaxValueSize: 4096})
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	s := &Store{opts: opts, objs: objs, index: index, known: map[string]known{}, active: map[string]*Recording{},
		stop: make(chan struct{}), done: make(chan struct{}), reaped: make(chan struct{})}
	s.w, err = index.Watch(context.WithoutCancel(ctx), "", s.note)
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	select {
	case <-s.w.Ready():
	case <-ctx.Done():
		s.w.Stop()
		return nil, fmt.Errorf("recordings: reading the index: %w", ctx.Err())
	}
	go s.pruneLoop()
	go s.reapLoop()
	return s, nil
}

// note keeps the index entry en, unless this node knows a later one (its
// own writes are noted as they are made, before the watch brings them).
func (s *Store) note(en engine.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.known[en.Key]; ok && k.rev >= en.Revision {
		return
	}
	if en.Op != engine.OpPut {
		delete(s.known, en.Key)
		return
	}
	var in Info
	if json.Unmarshal(en.Value, &in) == nil {
		s.known[en.Key] = known{Info: in, rev: en.Revision, seen: time.Now()}
	}
}

// Close stores every recording of this node still open (as ended now) and
// stops the Store. ctx bounds the wait.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	active := make([]*Recording, 0, len(s.active))
	for _, r := range s.active {
		active = append(active, r)
	}
	s.mu.Unlock()
	for _, r := range active {
		r.Close(time.Now())
	}
	close(s.stop)
	waited := make(chan struct{})
	go func() { s.wg.Wait(); <-s.done; <-s.reaped; close(waited) }()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = fmt.Errorf("recordings: closing: %w", ctx.Err())
	}
	s.w.Stop()
	return err
}

// Factory returns the hook a terminal session calls to be recorded.
func (s *Store) Factory() record.Factory {
	return func(meta record.SessionMeta) (record.Recorder, error) { return s.Start(meta) }
}

// List returns the recordings f selects, newest first, as this node's copy
// of the index holds them (a write on another node shows a moment later).
func (s *Store) List(f Filter) []Info {
	s.mu.Lock()
	out := make([]Info, 0, len(s.known))
	for _, k := range s.known {
		if !k.gone && f.match(k.Info) {
			out = append(out, k.Info)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Get returns the index entry of id, read from the engine.
func (s *Store) Get(ctx context.Context, id string) (Info, error) {
	if !validID(id) {
		return Info{}, fmt.Errorf("recording %q: %w", id, ErrNotFound)
	}
	en, err := s.index.Get(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return Info{}, fmt.Errorf("recording %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("recording %s: %w", id, err)
	}
	var in Info
	if err := json.Unmarshal(en.Value, &in); err != nil {
		return Info{}, fmt.Errorf("recording %s: index entry: %w", id, err)
	}
	return in, nil
}

// Open returns the .cast file of recording id to read, as stored so far,
// and its index entry. The caller closes the reader; ctx bounds the reads.
func (s *Store) Open(ctx context.Context, id string) (io.ReadCloser, Info, error) {
	in, err := s.Get(ctx, id)
	if err != nil {
		return nil, Info{}, err
	}
	return &castReader{ctx: ctx, objs: s.objs, id: id, done: in.Done, segments: in.Segments}, in, nil
}

// castReader reads the segments of a recording one after the other.
type castReader struct {
	ctx      context.Context
	objs     *engine.Objects
	id       string
	done     bool // the recording has ended: exactly segments segments
	segments int
	next     int
	cur      io.ReadCloser
}

func (c *castReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if c.done && c.next >= c.segments {
				return 0, io.EOF
			}
			rc, _, err := c.objs.Get(c.ctx, segmentName(c.id, c.next))
			if errors.Is(err, engine.ErrNotFound) && !c.done {
				return 0, io.EOF // a recording still being written: what is stored so far
			}
			if err != nil {
				return 0, fmt.Errorf("recording %s: segment %d: %w", c.id, c.next, err)
			}
			c.cur = rc
			c.next++
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *castReader) Close() error {
	if c.cur != nil {
		return c.cur.Close()
	}
	return nil
}

// Delete removes recording id: its segments, then its index entry.
func (s *Store) Delete(ctx context.Context, id string) error {
	in, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	for i := range max(in.Segments, 1) {
		if err := s.objs.Delete(ctx, segmentName(id, i)); err != nil && !errors.Is(err, engine.ErrNotFound) {
			return fmt.Errorf("recording %s: %w", id, err)
		}
	}
	if err := s.index.Delete(ctx, id); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("recording %s: %w", id, err)
	}
	s.mu.Lock()
	s.known[id] = known{rev: math.MaxUint64, gone: true} // a late put from the watch must not bring it back
	s.mu.Unlock()
	return nil
}

// Prune deletes the recordings beyond the retention limits: those older
// than KeepAge, then, of the ended ones, the oldest beyond the newest Keep
// or beyond KeepBytes in all. It returns how many it deleted.
func (s *Store) Prune(ctx context.Context) (int, error) {
	all := s.List(Filter{})
	cutoff := time.Now().Add(-s.opts.KeepAge)
	var n, kept int
	var bytes int64
	var errs []error
	for _, in := range all {
		old := in.Start.Before(cutoff)
		if !old && !in.Done {
			continue // being written: counted by neither limit until it ends
		}
		if !old && kept < s.opts.Keep && bytes+in.Size <= s.opts.KeepBytes {
			kept++
			bytes += in.Size
			continue
		}
		if err := s.Delete(ctx, in.ID); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (s *Store) pruneLoop() {
	defer close(s.done)
	if s.opts.PruneEvery < 0 {
		<-s.stop
		return
	}
	t := time.NewTicker(s.opts.PruneEvery)
	defer t.Stop()
	for {
		s.prune()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *Store) prune() {
	if s.opts.PruneEvery < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Prune(ctx); err != nil {
		s.opts.Logf("recordings: retention: %v", err)
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func validID(id string) bool { return idPattern.MatchString(id) }

func segmentName(id string, i int) string { return fmt.Sprintf("%s.%06d", id, i) }
