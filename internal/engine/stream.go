package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig describes a stream: a log of entries on a set of subjects,
// each numbered by a sequence that only grows. Zero limits mean no limit;
// when a limit is reached the oldest entries go.
type StreamConfig struct {
	// Name is the stream's name: letters, digits, - and _ only.
	Name string
	// Subjects are the subjects whose messages the stream stores
	// (wildcards allowed: "chat.room.*", "jobs.>").
	Subjects []string

	MaxMsgs           int64         // entries kept
	MaxMsgsPerSubject int64         // entries kept per subject
	MaxBytes          int64         // bytes kept
	MaxAge            time.Duration // how long an entry is kept
	MaxMsgSize        int32         // largest entry; 0 means the server's limit

	// Duplicates is how long a message id is remembered to drop a resend
	// (Publish's msgID). Zero means 2 minutes; it cannot exceed MaxAge.
	Duplicates time.Duration

	// DenyDelete refuses deleting single entries, and DenyPurge purging;
	// entries still go by the limits above. For audit trails.
	DenyDelete, DenyPurge bool

	// Replicas is how many servers keep a copy. Zero means the engine's
	// default, min(3, cluster size).
	Replicas int
}

// Stream is a JetStream stream. Its methods may be called from any
// goroutine.
type Stream struct {
	e    *Engine
	name string
	s    jetstream.Stream
}

// Stream creates the stream cfg describes, or updates the existing one of
// that name to match it, and returns it.
func (e *Engine) Stream(ctx context.Context, cfg StreamConfig) (*Stream, error) {
	if e.closing.Load() {
		return nil, ErrClosed
	}
	if cfg.Name == "" || len(cfg.Subjects) == 0 {
		return nil, errors.New("stream config: a name and at least one subject are required")
	}
	jc := jetstream.StreamConfig{
		Name:              cfg.Name,
		Subjects:          append([]string(nil), cfg.Subjects...),
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		MaxMsgs:           unlimited(cfg.MaxMsgs),
		MaxMsgsPerSubject: unlimited(cfg.MaxMsgsPerSubject),
		MaxBytes:          unlimited(cfg.MaxBytes),
		MaxAge:            cfg.MaxAge,
		MaxMsgSize:        int32(unlimited(int64(cfg.MaxMsgSize))),
		Duplicates:        cfg.Duplicates,
		DenyDelete:        cfg.DenyDelete,
		DenyPurge:         cfg.DenyPurge,
	}
	var s jetstream.Stream
	var before *jetstream.StreamConfig // the settings an update replaced
	err := e.withReplicas(ctx, cfg.Replicas, func(ctx context.Context, r int) error {
		jc.Replicas = r
		// Create first; see withReplicas.
		var err error
		if s, err = e.js.CreateStream(ctx, jc); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
		old, err := e.js.Stream(ctx, cfg.Name)
		if err == nil {
			c := old.CachedInfo().Config
			before = &c
			s, err = e.js.UpdateStream(ctx, jc)
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// Another node's create is under way: the name is taken
			// but the stream not made yet.
			return errInFlight
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, e.classify(err))
	}
	if before != nil {
		if changed := limitsChanged(*before, s.CachedInfo().Config); changed != "" {
			// Nodes sharing a stream should run with the same limits: the
			// last to start sets them for all.
			e.log.Warn("stream limits changed to this node's settings", "stream", cfg.Name, "changed", changed)
		}
	}
	return &Stream{e: e, name: cfg.Name, s: s}, nil
}

// LookupStream returns the existing stream of that name, as it is: for a
// reader, which must not set the stream's limits as Stream would. It
// returns an error wrapping ErrNotFound if there is none.
func (e *Engine) LookupStream(ctx context.Context, name string) (*Stream, error) {
	if e.closing.Load() {
		return nil, ErrClosed
	}
	var s jetstream.Stream
	err := e.askAgain(ctx, func(ctx context.Context) (err error) {
		s, err = e.js.Stream(ctx, name)
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, e.classify(err))
	}
	return &Stream{e: e, name: name, s: s}, nil
}

// limitsChanged describes the limits in which now differs from was (both
// as the server reports them, defaults filled in), as
// "max_age 10m0s -> 20m0s, ...", or returns "" when they are the same.
func limitsChanged(was, now jetstream.StreamConfig) string {
	var b strings.Builder
	diff := func(name string, a, z any) {
		if a == z {
			return
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %v -> %v", name, a, z)
	}
	diff("max_msgs", was.MaxMsgs, now.MaxMsgs)
	diff("max_msgs_per_subject", was.MaxMsgsPerSubject, now.MaxMsgsPerSubject)
	diff("max_bytes", was.MaxBytes, now.MaxBytes)
	diff("max_age", was.MaxAge, now.MaxAge)
	diff("max_msg_size", was.MaxMsgSize, now.MaxMsgSize)
	diff("duplicates", was.Duplicates, now.Duplicates)
	return b.String()
}

// withReplicas calls create with the replica count asked for, or with the
// engine's default stepping down while the cluster reports it cannot
// place that many.
//
// Each create function creates its asset first and updates it only when
// the cluster reports one of that name with other settings: nodes that
// start together each create the same assets at once, and the client
// library's CreateOrUpdate calls (update first, create when the update
// finds nothing) had a node's update reach the cluster while another's
// create was proposed but not yet applied, and neither was ever answered
// (nats-server 2.15.3). An update can still meet a create in flight (two
// nodes with different settings), so a call left unanswered for
// createAttempt is made again, up to createAttempts times: creating and
// updating to the same settings twice does no harm. TestConcurrentCreate.
func (e *Engine) withReplicas(ctx context.Context, asked int, create func(ctx context.Context, replicas int) error) error {
	r := asked
	if asked <= 0 {
		r = e.Replicas()
	}
	for {
		err := e.askAgain(ctx, func(ctx context.Context) error { return create(ctx, r) })
		if err == nil || r == 1 || asked > 0 {
			return err
		}
		switch apiCode(err) {
		case codeNoSuitablePeers, codeInsufficientResources, codeReplicasNotSupported:
		default:
			return err
		}
		r--
		e.log.Warn("fewer servers than estimated: stepping replicas down", "replicas", r)
		e.replicas.Store(int64(r))
	}
}

// Bounds on a request to create or update an asset, which the cluster
// answers in milliseconds or, now and then, never (see withReplicas).
const (
	createAttempt  = 3 * time.Second
	createAttempts = 8
)

// errInFlight is a create function's report that another node's create
// of the same asset is under way.
var errInFlight = errors.New("the cluster is creating it for another client")

// askAgain calls f with a context bounded by createAttempt, again while
// it finds no answer in that time or finds another client's create in
// flight, up to createAttempts calls in all or until ctx is done.
func (e *Engine) askAgain(ctx context.Context, f func(ctx context.Context) error) error {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, createAttempt)
		err := f(actx)
		cancel()
		if err == nil || !unanswered(err) && err != errInFlight || ctx.Err() != nil || n == createAttempts {
			return err
		}
		if err == errInFlight {
			// Applied in milliseconds: a short pause.
			if err := pause(ctx, n); err != nil {
				return err
			}
			continue
		}
		e.log.Warn("no answer from the cluster in time: asking again", "attempt", n+1, "err", err)
	}
}

func unlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// Publish stores data on subject (one of the stream's) and returns the
// sequence the stream gave it, once the stream has stored it (on a
// quorum of its replicas). A non-empty msgID identifies the message: a
// second Publish with the same id within the stream's duplicate window
// is not stored again and returns the first one's sequence. While the
// connection is down Publish fails at once with ErrDisconnected; nothing
// is queued.
func (s *Stream) Publish(ctx context.Context, subject string, data []byte, msgID string) (uint64, error) {
	if s.e.closing.Load() {
		return 0, ErrClosed
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(s.name)}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	// Another client's publish with this id (a node beside this one, a
	// resend) may be being stored: once it is, this one gets its sequence.
	inProcess := func(err error) bool { return apiCode(err) == codeDuplicateInProcess }
	ack, err := tryAgain(ctx, inProcess, func() (*jetstream.PubAck, error) {
		return s.e.js.Publish(ctx, subject, data, opts...)
	})
	if err != nil {
		return 0, fmt.Errorf("publish to %s: %w", subject, s.e.classify(err))
	}
	return ack.Sequence, nil
}

// StreamInfo is a stream's state. Created changes only when the stream is
// deleted and made anew, when sequences start over: a client holding a
// sequence from another Created must not resume from it.
type StreamInfo struct {
	Msgs     uint64 // entries stored
	Bytes    uint64
	FirstSeq uint64 // the oldest entry's sequence
	LastSeq  uint64 // the newest entry's sequence (0 if none ever)
	Created  time.Time
	// Two of its limits as the server holds them (defaults filled in).
	MaxAge, Duplicates time.Duration
}

// Info returns the stream's state now.
func (s *Stream) Info(ctx context.Context) (StreamInfo, error) {
	if s.e.closing.Load() {
		return StreamInfo{}, ErrClosed
	}
	in, err := s.s.Info(ctx)
	if err != nil {
		return StreamInfo{}, fmt.Errorf("stream %s: %w", s.name, s.e.classify(err))
	}
	return StreamInfo{
		Msgs:       in.State.Msgs,
		Bytes:      in.State.Bytes,
		FirstSeq:   in.State.FirstSeq,
		LastSeq:    in.State.LastSeq,
		Created:    in.Created,
		MaxAge:     in.Config.MaxAge,
		Duplicates: in.Config.Duplicates,
	}, nil
}

// Get returns the entry of sequence seq, or ErrNotFound.
func (s *Stream) Get(ctx context.Context, seq uint64) (Msg, error) {
	if s.e.closing.Load() {
		return Msg{}, ErrClosed
	}
	m, err := s.s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Msg{}, fmt.Errorf("stream %s sequence %d: %w", s.name, seq, ErrNotFound)
	}
	if err != nil {
		return Msg{}, fmt.Errorf("stream %s sequence %d: %w", s.name, seq, s.e.classify(err))
	}
	return Msg{Seq: m.Sequence, Subject: m.Subject, Data: m.Data, Time: m.Time, Header: header(m.Header)}, nil
}

// Delete removes the entry of sequence seq. It fails with ErrDenied on a
// stream with DenyDelete.
func (s *Stream) Delete(ctx context.Context, seq uint64) error {
	if s.e.closing.Load() {
		return ErrClosed
	}
	if err := s.s.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			err = ErrNotFound
		}
		return fmt.Errorf("stream %s delete %d: %w", s.name, seq, s.e.classify(err))
	}
	return nil
}

// Purge removes every entry on subject (a filter; "" means all of the
// stream). It fails with ErrDenied on a stream with DenyPurge.
func (s *Stream) Purge(ctx context.Context, subject string) error {
	if s.e.closing.Load() {
		return ErrClosed
	}
	var opts []jetstream.StreamPurgeOpt
	if subject != "" {
		opts = append(opts, jetstream.WithPurgeSubject(subject))
	}
	if err := s.s.Purge(ctx, opts...); err != nil {
		return fmt.Errorf("stream %s purge: %w", s.name, s.e.classify(err))
	}
	return nil
}
