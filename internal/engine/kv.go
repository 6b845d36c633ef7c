package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketConfig describes a key-value bucket.
type BucketConfig struct {
	// Name is the bucket's name: letters, digits, - and _ only.
	Name string
	// TTL is how long a key lives after its last write; zero means
	// forever.
	TTL time.Duration
	// History is how many values are kept per key (1 to 64); zero means 1.
	History uint8
	// MaxBytes bounds the bucket's size and MaxValueSize each value's;
	// zero means no limit (the server's for a value).
	MaxBytes     int64
	MaxValueSize int32
	// Replicas is how many servers keep a copy. Zero means the engine's
	// default, min(3, cluster size).
	Replicas int
	// Memory keeps the bucket in the servers' memory instead of files:
	// for keys that lapse anyway (leases, with a TTL), rewritten too often
	// to be worth a disk write each. A bucket on files that is written
	// all the time also holds, in the server, a write cache of up to one
	// file block (8 MiB); one in memory holds its live values only. Its
	// keys survive a server's restart only on the other replicas. It
	// applies to the embedded server and to a cluster, which keep the
	// bucket itself across a restart; a single external server forgets
	// a bucket kept in memory when it restarts, so there the bucket is
	// made in files. It is a preference: a bucket that exists keeps the
	// storage it has (nodes that see the engine differently, one
	// embedding the server and one connected to it, share one bucket).
	Memory bool
}

// Bucket is a key-value bucket. Keys are dot-separated tokens of letters,
// digits, -, _, = and /. Its methods may be called from any goroutine.
type Bucket struct {
	e    *Engine
	name string
	kv   jetstream.KeyValue
}

// Op says what a write did to a key.
type Op uint8

const (
	OpPut    Op = iota // the key was given a value
	OpDelete           // the key was deleted
	OpPurge            // the key was deleted with its history
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpPurge:
		return "purge"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Entry is a key's value at one revision.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64    // grows with every write to the bucket
	Created  time.Time // when this revision was written
	Op       Op
}

// Bucket creates the bucket cfg describes, or updates the existing one of
// that name to match it, and returns it.
func (e *Engine) Bucket(ctx context.Context, cfg BucketConfig) (*Bucket, error) {
	if e.closing.Load() {
		return nil, ErrClosed
	}
	if cfg.Name == "" {
		return nil, errors.New("bucket config: a name is required")
	}
	jc := jetstream.KeyValueConfig{
		Bucket:       cfg.Name,
		TTL:          cfg.TTL,
		History:      max(cfg.History, 1),
		MaxBytes:     unlimited(cfg.MaxBytes),
		MaxValueSize: int32(unlimited(int64(cfg.MaxValueSize))),
		Storage:      jetstream.FileStorage,
	}
	if cfg.Memory && (e.cfg.embedded() || e.clusterSize() > 1) {
		jc.Storage = jetstream.MemoryStorage
	}
	var kv jetstream.KeyValue
	err := e.withReplicas(ctx, cfg.Replicas, func(ctx context.Context, r int) (err error) {
		jc.Replicas = r
		// Create first; see withReplicas.
		kv, err = e.js.CreateKeyValue(ctx, jc)
		if errors.Is(err, jetstream.ErrBucketExists) {
			if cfg.Memory {
				jc.Storage = e.storageOf(ctx, cfg.Name, jc.Storage)
			}
			kv, err = e.js.UpdateKeyValue(ctx, jc)
		}
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return errInFlight // another node's create is under way
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Name, e.classify(err))
	}
	return &Bucket{e: e, name: cfg.Name, kv: kv}, nil
}

// storageOf returns the storage of the existing bucket name, or def if it
// cannot be read (the update that follows then says why).
func (e *Engine) storageOf(ctx context.Context, name string, def jetstream.StorageType) jetstream.StorageType {
	kv, err := e.js.KeyValue(ctx, name)
	if err != nil {
		return def
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return def
	}
	return st.Config().Storage
}

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

func (b *Bucket) err(op, key string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		err = ErrNotFound
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		err = fmt.Errorf("%w: %w", ErrRevision, err)
	case errors.Is(err, jetstream.ErrKeyExists):
		err = fmt.Errorf("%w: %w", ErrExists, err)
	default:
		err = b.e.classify(err)
	}
	return fmt.Errorf("%s %s/%s: %w", op, b.name, key, err)
}

// Get returns key's current value, or ErrNotFound if it has none.
func (b *Bucket) Get(ctx context.Context, key string) (Entry, error) {
	if b.e.closing.Load() {
		return Entry{}, ErrClosed
	}
	// No responder: the bucket's readers (every replica answers a get)
	// are not known to this connection's server yet.
	v, err := tryAgain(ctx, noResponders, func() (jetstream.KeyValueEntry, error) { return b.kv.Get(ctx, key) })
	if err != nil {
		return Entry{}, b.err("get", key, err)
	}
	return entry(v), nil
}

// Put sets key's value and returns its revision.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if b.e.closing.Load() {
		return 0, ErrClosed
	}
	rev, err := b.kv.Put(ctx, key, value)
	if err != nil {
		return 0, b.err("put", key, err)
	}
	return rev, nil
}

// Create sets key's value only if it has none (never set, or deleted),
// and returns its revision; otherwise it fails with ErrExists.
func (b *Bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if b.e.closing.Load() {
		return 0, ErrClosed
	}
	rev, err := b.kv.Create(ctx, key, value)
	if err != nil {
		return 0, b.err("create", key, err)
	}
	return rev, nil
}

// Update sets key's value only if its latest revision is rev, and returns
// the new revision; otherwise it fails with ErrRevision.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if b.e.closing.Load() {
		return 0, ErrClosed
	}
	n, err := b.kv.Update(ctx, key, value, rev)
	if err != nil {
		return 0, b.err("update", key, err)
	}
	return n, nil
}

// Delete removes key's value. Deleting a key without one is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if b.e.closing.Load() {
		return ErrClosed
	}
	if err := b.kv.Delete(ctx, key); err != nil {
		return b.err("delete", key, err)
	}
	return nil
}

// Keys returns the keys that have a value, in no particular order.
func (b *Bucket) Keys(ctx context.Context) ([]string, error) {
	if b.e.closing.Load() {
		return nil, ErrClosed
	}
	keys, err := b.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, b.err("keys", "*", err)
	}
	return keys, nil
}

func entry(v jetstream.KeyValueEntry) Entry {
	op := OpPut
	switch v.Operation() {
	case jetstream.KeyValueDelete:
		op = OpDelete
	case jetstream.KeyValuePurge:
		op = OpPurge
	}
	return Entry{Key: v.Key(), Value: v.Value(), Revision: v.Revision(), Created: v.Created(), Op: op}
}

// Watcher delivers a bucket's changes. Stop may be called from any
// goroutine but the handler's.
type Watcher struct {
	w        jetstream.KeyWatcher
	ready    chan struct{} // closed once the current entries are delivered
	stopping chan struct{} // closed by stop
	done     chan struct{} // closed when run returns
	once     sync.Once
}

// Watch calls fn with the current entry of each key matching keys (a
// key, or a pattern with * for one token and > for the rest; "" means
// all), then with their changes, in revision order, from one goroutine,
// until Stop is called, ctx is done or the engine shuts down. Deletions
// arrive as entries with Op OpDelete or OpPurge. A key's latest change
// always arrives; an earlier one that the bucket no longer holds (beyond
// its History) when the watch reaches it is skipped. Ready is closed once
// the current entries have been delivered.
func (b *Bucket) Watch(ctx context.Context, keys string, fn func(Entry)) (*Watcher, error) {
	if b.e.closing.Load() {
		return nil, ErrClosed
	}
	if keys == "" {
		keys = jetstream.AllKeys
	}
	w, err := b.kv.Watch(ctx, keys)
	if err != nil {
		return nil, b.err("watch", keys, err)
	}
	wa := &Watcher{w: w, ready: make(chan struct{}), stopping: make(chan struct{}), done: make(chan struct{})}
	go wa.run(ctx, fn)
	return wa, nil
}

// run delivers until the library closes the updates channel, which it
// does once the watch's subscription has ended (Stop, or the connection
// closed). It keeps draining after Stop: the library's delivery blocks on
// that channel.
func (wa *Watcher) run(ctx context.Context, fn func(Entry)) {
	defer close(wa.done)
	defer context.AfterFunc(ctx, wa.stop)()
	for v := range wa.w.Updates() {
		select {
		case <-wa.stopping:
			continue
		default:
		}
		if v == nil { // the current values have all been delivered
			close(wa.ready)
			continue
		}
		fn(entry(v))
	}
}

// Ready is closed once the entries current when Watch was called have
// been delivered.
func (wa *Watcher) Ready() <-chan struct{} { return wa.ready }

// Stop ends the watch and waits until fn has returned for the last time.
// It must not be called from fn.
func (wa *Watcher) Stop() {
	wa.stop()
	<-wa.done
}

func (wa *Watcher) stop() {
	wa.once.Do(func() {
		close(wa.stopping)
		_ = wa.w.Stop()
	})
}
