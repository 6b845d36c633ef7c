// Package topic fans the entries of one engine stream subject out to the
// sockets of this console node: the chat of a room, the events of a job,
// the samples of a node's monitor.
//
// A Topic holds one engine subscription, however many sockets watch it,
// and only while at least one does. Each live entry is encoded once, into
// a PreparedMessage whose bytes every socket's queue shares. A socket
// joins from a position in the stream (a sequence, a time, or the newest
// n entries): it is given the entries from there as a backlog, read from
// the stream, and then every later entry live, each exactly once and in
// stream order, whichever node published it.
package topic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/websocket"
)

// A Sink receives a topic's live entries. *socket.Conn is one. Send must
// not block: it queues the frame, or reports false if the sink is gone.
type Sink interface {
	Send(*websocket.PreparedMessage) bool
}

// Options configure a Topic.
type Options struct {
	// Subject keeps only the stream's entries on subjects it matches
	// (wildcards allowed); empty means every subject of the stream.
	Subject string
	// Encode turns a live entry into the text frame sinks receive. An
	// error skips the entry (it is logged). Nil sends the entry's data
	// as it is.
	Encode func(engine.Msg) ([]byte, error)
	// Log receives the topic's warnings; nil discards them.
	Log *slog.Logger
	// Keep, if above zero, keeps the newest Keep entries in memory while
	// the topic is subscribed, so that a Join asking for the newest n
	// (n <= Keep) or for entries after a sequence it holds is served
	// without reading the stream: a thousand pages joining a room cost
	// the engine nothing but the first join's read. The entries kept are
	// those the stream had and the subscription delivered; one that the
	// stream's age or byte limits removed meanwhile may still be given.
	Keep int
}

// From says where a joining sink's backlog starts. The zero value means
// no backlog: live entries only.
type From struct {
	// Seq starts the backlog at this stream sequence (a page that has
	// seen up to n asks for n+1).
	Seq uint64
	// Since, if Seq is zero, starts it at the first entry stored at or
	// after this time.
	Since time.Time
	// Last, if Seq and Since are zero, makes it the newest Last entries.
	Last int
	// Max bounds the backlog; the newest Max entries are kept. Zero
	// means DefaultMax.
	Max int
}

// DefaultMax is the largest backlog when From.Max is zero.
const DefaultMax = 1000

// readChunk is how many entries one read of the backlog asks for.
const readChunk = 512

func (f From) none() bool { return f.Seq == 0 && f.Since.IsZero() && f.Last <= 0 }

// Backlog is what a joining sink is given before the live entries.
type Backlog struct {
	// Msgs are the entries from the position asked, oldest first.
	Msgs []engine.Msg
	// Frames holds, for each of Msgs, the frame a live sink gets for it:
	// Options.Encode's (nil where it failed; the topic logged why), or
	// the entry's data without Encode. A topic that keeps entries
	// (Options.Keep) sets it for backlogs from a sequence or of the
	// newest n, encoding each entry once however many join; the frames
	// are shared, and must not be changed. Otherwise it is nil.
	Frames [][]byte
	// Last is the stream sequence up to which the backlog goes: every
	// entry after it reaches the sink live. It is the stream's, not the
	// subject's: an entry numbered Last may be on another subject.
	Last uint64
	// Truncated says that entries after the position asked were left
	// out, by From.Max.
	Truncated bool
}

// Topic is one subject's fan-out on this node. Its methods may be called
// from any goroutine.
type Topic struct {
	stream *engine.Stream
	opts   Options
	log    *slog.Logger

	mu     sync.Mutex
	sinks  map[Sink]struct{}
	joins  map[*joining]struct{} // the Joins under way
	sub    *engine.Subscription  // while sinks or joins is not empty
	gen    uint64                // counts subscriptions: an old one's late entries are ignored
	last   uint64                // the stream sequence delivered up to
	moved  chan struct{}         // if not nil, closed when last next moves (Delivered waits on it)
	closed bool

	// The newest entries, with Options.Keep. While keptOK, kept holds
	// every entry of the subject numbered after keptFrom up to last, in
	// order; keptWhole says that there is none up to keptFrom either.
	kept      []keptEntry
	keptFrom  uint64
	keptOK    bool
	keptWhole bool

	// The probes of the engine that joins served from the kept entries
	// wait on (probe).
	probing   bool       // one is under way
	nextProbe *probeCall // the one to start next, and the joins waiting on it

	reads  atomic.Uint64 // backlogs read from the stream (the tests count them)
	probes atomic.Uint64 // probes of the engine (the tests count them)
}

// keptEntry is a kept entry and its frame, made once.
type keptEntry struct {
	msg   engine.Msg
	frame []byte // nil if the entry cannot be encoded
}

// ErrClosed is returned by Join after Close.
var ErrClosed = errors.New("topic closed")

// New returns a topic of the entries of s that opts selects.
func New(s *engine.Stream, opts Options) *Topic {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Topic{
		stream: s,
		opts:   opts,
		log:    log.With("stream", s.Name(), "subject", opts.Subject),
		sinks:  make(map[Sink]struct{}),
		joins:  make(map[*joining]struct{}),
	}
}

// Join adds s to the topic. It reads the backlog that from asks for, calls
// first with it, and from then on queues every later entry to s. first
// runs with the topic locked, before any live entry can reach s: it must
// only queue (send a welcome that holds the backlog, say), never block or
// call the topic. Joining a sink already joined does nothing and calls
// first with an empty backlog. The error is the engine's, wrapped, when
// the stream cannot be read, and ErrClosed after Close; s is then not
// joined.
func (t *Topic) Join(ctx context.Context, s Sink, from From, first func(Backlog)) error {
	if from.Max <= 0 {
		from.Max = DefaultMax
	}
	j := &joining{}
	if !from.none() {
		j.from, j.max = from.Seq, from.Max
	}
	target, err := t.subscribe(ctx, j)
	if err != nil {
		return err
	}
	defer t.joined(j)
	var b Backlog
	whole := false
	if !from.none() {
		if done, err := t.joinKept(ctx, s, from, first); done || err != nil {
			return err
		}
		if b, whole, err = t.backlog(ctx, from, target); err != nil {
			return err
		}
		// Frames for the entries the topic is to keep (see keep), made
		// before locking; extend adds those of the live entries.
		if t.opts.Keep > 0 && from.Since.IsZero() {
			b.Frames = t.frames(b.Msgs)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	// The backlog goes up to target; the entries the subscription
	// delivered since, which j holds, follow it: nothing falls in
	// between, and entries arriving however fast cost no further read.
	if j.extend(&b, from.Max) {
		whole = false
	}
	b.Last = t.last
	if !from.none() {
		t.keep(from, b, whole)
	}
	first(b)
	t.sinks[s] = struct{}{}
	return nil
}

// A joining is a Join under way. It holds the subscription (its backlog
// ends where the live entries begin) and the live entries delivered while
// it reads its backlog.
type joining struct {
	from    uint64       // entries before it are not wanted (the backlog starts there)
	max     int          // the most entries kept; 0 keeps none (a join without backlog)
	msgs    []engine.Msg // the newest max entries delivered since the join began
	frames  [][]byte     // and their frames
	dropped bool         // older ones were dropped for max
}

// add records a live entry and its frame. t.mu is held.
func (j *joining) add(m engine.Msg, frame []byte) {
	if j.max == 0 || m.Seq < j.from {
		return
	}
	if len(j.msgs) == j.max {
		j.msgs[0], j.frames[0] = engine.Msg{}, nil
		j.msgs, j.frames, j.dropped = j.msgs[1:], j.frames[1:], true
	}
	j.msgs, j.frames = append(j.msgs, m), append(j.frames, frame)
}

// extend appends to b, a backlog read up to the sequence the subscription
// had delivered when the join began, the live entries delivered since
// (and their frames, if b has frames), keeping the newest max, and
// reports whether it left any out (setting b.Truncated). t.mu is held.
func (j *joining) extend(b *Backlog, max int) bool {
	withFrames := b.Frames != nil
	if j.dropped {
		// Every entry of the backlog is older than those dropped.
		b.Msgs, b.Truncated = slices.Clone(j.msgs), true
		if withFrames {
			b.Frames = slices.Clone(j.frames)
		}
		return true
	}
	b.Msgs = append(b.Msgs, j.msgs...)
	if withFrames {
		b.Frames = append(b.Frames, j.frames...)
	}
	n := len(b.Msgs) - max
	if n <= 0 {
		return false
	}
	b.Msgs, b.Truncated = b.Msgs[n:], true
	if withFrames {
		b.Frames = b.Frames[n:]
	}
	return true
}

// Leave removes s from the topic; entries stop reaching it once Leave
// returns. The last sink to leave ends the engine subscription. Leaving a
// sink that is not joined does nothing.
func (t *Topic) Leave(s Sink) {
	t.mu.Lock()
	delete(t.sinks, s)
	t.mu.Unlock()
	t.unsubscribeIfIdle()
}

// Sinks returns the number of sinks joined.
func (t *Topic) Sinks() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sinks)
}

// Delivered waits until the topic has queued every live entry up to
// stream sequence seq to its sinks, or has no sinks left, or ctx is done
// (its error is returned). A node that stops uses it to let its sockets
// have the last entries it published (a job's end) before it closes them.
func (t *Topic) Delivered(ctx context.Context, seq uint64) error {
	for {
		t.mu.Lock()
		if t.last >= seq || t.sub == nil {
			t.mu.Unlock()
			return nil
		}
		if t.moved == nil {
			t.moved = make(chan struct{})
		}
		moved := t.moved
		t.mu.Unlock()
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("topic %s: entries up to %d not delivered: %w", t.opts.Subject, seq, ctx.Err())
		}
	}
}

// Close removes every sink and ends the engine subscription; Join fails
// afterwards.
func (t *Topic) Close() {
	t.mu.Lock()
	t.closed = true
	clear(t.sinks)
	sub := t.sub
	t.sub = nil
	t.forget()
	t.mu.Unlock()
	if sub != nil {
		sub.Stop()
	}
}

// subscribe makes sure the engine subscription runs, holds it for j
// (joined releases it), and returns the sequence it has delivered up to:
// j gets every entry after it.
func (t *Topic) subscribe(ctx context.Context, j *joining) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, ErrClosed
	}
	if t.sub != nil {
		t.joins[j] = struct{}{}
		return t.last, nil
	}
	info, err := t.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("topic %s: %w", t.opts.Subject, err)
	}
	t.gen++
	gen := t.gen
	// The subscription lives as long as the topic has sinks, not as long
	// as the joining request.
	sub, err := t.stream.Subscribe(context.WithoutCancel(ctx), engine.SubscribeOptions{
		Subject: t.opts.Subject,
		From:    info.LastSeq + 1,
	}, func(m engine.Msg) { t.deliver(gen, m) })
	if err != nil {
		return 0, fmt.Errorf("topic %s: %w", t.opts.Subject, err)
	}
	t.sub, t.last = sub, info.LastSeq
	t.joins[j] = struct{}{}
	return t.last, nil
}

// joined ends j's hold on the subscription, which ends if no sink was
// joined.
func (t *Topic) joined(j *joining) {
	t.mu.Lock()
	delete(t.joins, j)
	t.mu.Unlock()
	t.unsubscribeIfIdle()
}

// unsubscribeIfIdle ends the engine subscription if no sink is joined and
// no Join runs.
func (t *Topic) unsubscribeIfIdle() {
	t.mu.Lock()
	if len(t.sinks) > 0 || len(t.joins) > 0 || t.sub == nil {
		t.mu.Unlock()
		return
	}
	sub := t.sub
	t.sub = nil
	t.forget()
	t.mu.Unlock()
	sub.Stop() // outside the lock: a running deliver takes it
}

// deliver queues a live entry, encoded once, to every sink.
func (t *Topic) deliver(gen uint64, m engine.Msg) {
	b := t.frame(m)
	var pm *websocket.PreparedMessage
	if b != nil {
		pm, _ = websocket.NewPreparedMessage(websocket.MessageText, b)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen || m.Seq <= t.last {
		return // a stopped subscription's, or a repeat
	}
	t.last = m.Seq
	if t.moved != nil {
		close(t.moved)
		t.moved = nil
	}
	if t.keptOK {
		t.kept = append(t.kept, keptEntry{msg: m, frame: b})
		if len(t.kept) > t.opts.Keep {
			t.keptFrom, t.keptWhole = t.kept[0].msg.Seq, false
			t.kept[0] = keptEntry{}
			t.kept = t.kept[1:]
		}
	}
	for j := range t.joins {
		j.add(m, b)
	}
	if pm == nil {
		return
	}
	for s := range t.sinks {
		s.Send(pm)
	}
}

// backlog reads what from asks for, up to sequence upTo. whole says that
// the subject has no entry before those returned (a read of the newest n
// that found fewer).
func (t *Topic) backlog(ctx context.Context, from From, upTo uint64) (b Backlog, whole bool, err error) {
	b.Last = upTo
	t.reads.Add(1)
	var msgs []engine.Msg
	switch {
	case from.Seq > 0:
		msgs, err = t.read(ctx, engine.ReadOptions{From: from.Seq}, upTo)
	case !from.Since.IsZero():
		msgs, err = t.read(ctx, engine.ReadOptions{Since: from.Since}, upTo)
	default:
		n := min(from.Last, from.Max)
		msgs, err = t.stream.Last(ctx, t.opts.Subject, n)
		whole = len(msgs) < n
		msgs = upToSeq(msgs, upTo)
	}
	if err != nil {
		return Backlog{}, false, err
	}
	if n := len(msgs) - from.Max; n > 0 {
		msgs, b.Truncated, whole = msgs[n:], true, false
	}
	b.Msgs = msgs
	return b, whole, nil
}

// keep starts keeping the newest entries (Options.Keep) from b, the
// backlog a Join read for from and is about to be given, which goes up to
// t.last. whole is as backlog returns it. t.mu is held.
func (t *Topic) keep(from From, b Backlog, whole bool) {
	if t.opts.Keep <= 0 || t.keptOK || !from.Since.IsZero() {
		return
	}
	var keptFrom uint64
	switch {
	case len(b.Msgs) > 0 && (from.Seq == 0 || b.Truncated):
		keptFrom = b.Msgs[0].Seq - 1 // no entry of the subject between it and the first
	case from.Seq > 0:
		keptFrom = from.Seq - 1
	case whole:
		keptFrom = 0
	default:
		return // the newest n, and none found up to last: nothing says where they begin
	}
	if keptFrom > b.Last {
		return // a position past the stream's end
	}
	msgs := b.Msgs
	if n := len(msgs) - t.opts.Keep; n > 0 {
		msgs, whole = msgs[n:], false
		keptFrom = msgs[0].Seq - 1
	}
	frames := b.Frames[len(b.Msgs)-len(msgs):]
	t.kept = make([]keptEntry, len(msgs), t.opts.Keep+1)
	for i, m := range msgs {
		t.kept[i] = keptEntry{msg: m, frame: frames[i]}
	}
	t.keptFrom, t.keptOK, t.keptWhole = keptFrom, true, whole
}

// frame is the frame of entry m that sinks get: Options.Encode's, or
// its data; nil if it cannot be encoded (logged).
func (t *Topic) frame(m engine.Msg) []byte {
	if t.opts.Encode == nil {
		return m.Data
	}
	b, err := t.opts.Encode(m)
	if err != nil {
		t.log.Warn("entry not delivered: cannot encode it", "seq", m.Seq, "err", err)
		return nil
	}
	return b
}

// frames returns the frame of each of msgs.
func (t *Topic) frames(msgs []engine.Msg) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = t.frame(m)
	}
	return out
}

// joinKept joins s with its backlog from the kept entries, if they hold
// all of it, and reports whether it did. The stream's limits may have
// removed some of them (by age, or by bytes for the whole stream): its
// first sequence, asked of the engine (one request, where a read costs a
// consumer), says which are gone. An engine that cannot answer fails the
// Join, as a read would.
func (t *Topic) joinKept(ctx context.Context, s Sink, from From, first func(Backlog)) (bool, error) {
	t.mu.Lock()
	ok := t.keptOK && from.Since.IsZero()
	t.mu.Unlock()
	if !ok {
		return false, nil
	}
	firstSeq, last, err := t.probe(ctx)
	if err != nil {
		return false, err
	}
	// What the stream stored before the join began is in the backlog,
	// as a read would have it: the subscription may not have delivered
	// the newest entries yet (a page that had its message acknowledged
	// and then opens another expects to see it there).
	if t.opts.Subject != "" {
		wctx, cancel := context.WithTimeout(ctx, keptCatchUp)
		err = t.Delivered(wctx, last)
		cancel()
		if err != nil {
			return false, nil // not delivered in time: read the stream
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false, ErrClosed
	}
	t.dropKeptBefore(firstSeq)
	b, ok := t.fromKept(from)
	if !ok {
		return false, nil
	}
	first(b)
	t.sinks[s] = struct{}{}
	return true, nil
}

// A probeCall asks the engine for the stream's first sequence and the
// subject's last sequence, once, for every join that waits on it.
type probeCall struct {
	done        chan struct{} // closed when the answer is in
	first, last uint64
	err         error
	waiting     int // joins waiting on it (the tests look)
}

// probe returns the stream's first sequence and the subject's last (the
// stream's last without a subject), as the engine has them at a moment
// after probe was called. Joins that come together share one request:
// the one under way started before them, so they wait for the next, which
// starts when it ends and serves all of them.
func (t *Topic) probe(ctx context.Context) (first, last uint64, err error) {
	t.mu.Lock()
	p := t.nextProbe
	if p == nil {
		p = &probeCall{done: make(chan struct{})}
		t.nextProbe = p
		if !t.probing {
			t.startProbe()
		}
	}
	p.waiting++
	t.mu.Unlock()
	select {
	case <-p.done:
		return p.first, p.last, p.err
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("topic %s: %w", t.opts.Subject, ctx.Err())
	}
}

// startProbe asks the engine what t.nextProbe waits for, in a goroutine
// of its own (bounded by probeTimeout), and starts the next when it ends.
// t.mu is held.
func (t *Topic) startProbe() {
	p := t.nextProbe
	t.nextProbe, t.probing = nil, true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		p.first, p.last, p.err = t.askStream(ctx)
		cancel()
		close(p.done)
		t.mu.Lock()
		t.probing = false
		if t.nextProbe != nil {
			t.startProbe()
		}
		t.mu.Unlock()
	}()
}

// probeTimeout bounds one probe of the engine.
const probeTimeout = 10 * time.Second

// askStream is one probe: two requests to the engine.
func (t *Topic) askStream(ctx context.Context) (first, last uint64, err error) {
	t.probes.Add(1)
	if testHookProbe != nil {
		testHookProbe()
	}
	info, err := t.stream.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("topic %s: %w", t.opts.Subject, err)
	}
	if t.opts.Subject == "" {
		return info.FirstSeq, info.LastSeq, nil
	}
	last, err = t.stream.LastSeq(ctx, t.opts.Subject)
	if err != nil {
		return 0, 0, fmt.Errorf("topic %s: %w", t.opts.Subject, err)
	}
	return info.FirstSeq, last, nil
}

// testHookProbe, when set by a test, is called as each probe starts.
var testHookProbe func()

// keptCatchUp bounds how long a join served from the kept entries waits
// for the subscription to deliver what the stream already holds; past it,
// the join reads the stream.
const keptCatchUp = 2 * time.Second

// dropKeptBefore drops the kept entries numbered before first, the
// stream's first sequence: the stream holds none before it. t.mu is held.
func (t *Topic) dropKeptBefore(first uint64) {
	if !t.keptOK || first == 0 || first-1 < t.keptFrom {
		return
	}
	i := 0
	for i < len(t.kept) && t.kept[i].msg.Seq < first {
		i++
	}
	clear(t.kept[:i])
	t.kept = t.kept[i:]
	// Every entry of the subject after keptFrom is kept, and the stream
	// has none up to it any more.
	t.keptFrom, t.keptWhole = first-1, true
}

// fromKept returns the backlog from asks for out of the kept entries, if
// they hold all of it. t.mu is held.
func (t *Topic) fromKept(from From) (Backlog, bool) {
	if !t.keptOK || !from.Since.IsZero() {
		return Backlog{}, false
	}
	if from.Max <= 0 {
		from.Max = DefaultMax
	}
	var kept []keptEntry
	switch {
	case from.Seq > 0:
		if from.Seq <= t.keptFrom {
			return Backlog{}, false
		}
		i := 0
		for i < len(t.kept) && t.kept[i].msg.Seq < from.Seq {
			i++
		}
		kept = t.kept[i:]
	default:
		n := min(from.Last, from.Max)
		if n > len(t.kept) && !t.keptWhole {
			return Backlog{}, false
		}
		kept = t.kept[max(len(t.kept)-n, 0):]
	}
	b := Backlog{Last: t.last}
	if n := len(kept) - from.Max; n > 0 {
		kept, b.Truncated = kept[n:], true
	}
	b.Msgs, b.Frames = make([]engine.Msg, len(kept)), make([][]byte, len(kept))
	for i := range kept {
		b.Msgs[i], b.Frames[i] = kept[i].msg, kept[i].frame
	}
	return b, true
}

// forget drops the kept entries: the subscription ends. t.mu is held.
func (t *Topic) forget() {
	t.kept, t.keptFrom, t.keptOK, t.keptWhole = nil, 0, false, false
}

// read returns the entries of the topic's subject from opt's position up
// to sequence upTo, in chunks. It keeps the whole range: callers bound it
// by From.Max afterwards, and the stream's own limits bound it anyway.
func (t *Topic) read(ctx context.Context, opt engine.ReadOptions, upTo uint64) ([]engine.Msg, error) {
	opt.Subject, opt.Limit = t.opts.Subject, readChunk
	if testHookRead != nil {
		testHookRead()
	}
	var out []engine.Msg
	for {
		if opt.From > upTo && opt.Since.IsZero() {
			return out, nil
		}
		msgs, err := t.stream.Read(ctx, opt)
		if err != nil {
			return nil, fmt.Errorf("topic %s: read: %w", t.opts.Subject, err)
		}
		kept := upToSeq(msgs, upTo)
		out = append(out, kept...)
		if len(msgs) < readChunk || len(kept) < len(msgs) {
			return out, nil
		}
		opt.From, opt.Since = msgs[len(msgs)-1].Seq+1, time.Time{}
	}
}

// testHookRead, when set by a test, is called before each read of the
// stream.
var testHookRead func()

// upToSeq returns the entries of msgs numbered up to seq.
func upToSeq(msgs []engine.Msg, seq uint64) []engine.Msg {
	for i, m := range msgs {
		if m.Seq > seq {
			return msgs[:i]
		}
	}
	return msgs
}
