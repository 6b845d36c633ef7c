package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// Bucket is the key-value bucket a KVStore keeps its sessions in: an
// *engine.Bucket, which every console node sharing the engine sees.
type Bucket interface {
	Get(ctx context.Context, key string) (engine.Entry, error)
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	Delete(ctx context.Context, key string) error
	Keys(ctx context.Context) ([]string, error)
	Watch(ctx context.Context, keys string, fn func(engine.Entry)) (*engine.Watcher, error)
}

// KVStore is a Store in a key-value bucket, one key per session (its Key),
// so that every console node using the bucket accepts a session another
// one started, and a session deleted on one node is refused on all. The
// bucket's TTL should be the sessions' Max (a key then goes by itself
// once its session could not be alive); Sweep removes those that ended
// earlier by Idle. It is safe for concurrent use.
type KVStore struct {
	b   Bucket
	max int
}

// NewKVStore returns a store in b of at most max sessions; max <= 0 means
// DefaultMaxSessions. Adding to a full store drops the expired sessions,
// then, if it is still full, the least recently used one.
func NewKVStore(b Bucket, max int) *KVStore {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &KVStore{b: b, max: max}
}

// record is a session as the bucket holds it: its key is the bucket's.
type record struct {
	Created  time.Time `json:"created"`
	Seen     time.Time `json:"seen"`
	Expires  time.Time `json:"expires"`
	Identity Identity  `json:"identity"`
	Remote   string    `json:"remote,omitempty"`
	// Revoked marks a session an admin (or a change of its user) is
	// ending: the one write that sets it wins the revocation (Revoke).
	Revoked bool `json:"revoked,omitempty"`
}

func encode(s Session) []byte {
	b, _ := json.Marshal(record{Created: s.Created, Seen: s.Seen, Expires: s.Expires, Identity: s.Identity, Remote: s.Remote}) // cannot fail
	return b
}

func decode(e engine.Entry) (Session, error) {
	s, _, err := decodeRecord(e)
	return s, err
}

// decodeRecord returns the session of e and whether it is being revoked.
func decodeRecord(e engine.Entry) (Session, bool, error) {
	var r record
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return Session{}, false, fmt.Errorf("auth: session %s: %w", Session{Key: e.Key}.ShortKey(), err)
	}
	return Session{Key: e.Key, Created: r.Created, Seen: r.Seen, Expires: r.Expires, Identity: r.Identity, Remote: r.Remote}, r.Revoked, nil
}

// Add stores s, making room as NewKVStore says when the store is full.
func (k *KVStore) Add(ctx context.Context, s Session) error {
	keys, err := k.b.Keys(ctx)
	if err != nil {
		return fmt.Errorf("auth: counting sessions: %w", err)
	}
	if len(keys) >= k.max {
		if err := k.makeRoom(ctx, s.Created, len(keys)); err != nil {
			return err
		}
	}
	if _, err := k.b.Create(ctx, s.Key, encode(s)); err != nil {
		return fmt.Errorf("auth: adding a session: %w", err)
	}
	return nil
}

// makeRoom drops the sessions expired at now and, if n sessions less
// those are still max or more, the least recently used ones.
func (k *KVStore) makeRoom(ctx context.Context, now time.Time, n int) error {
	all, err := k.sessions(ctx)
	if err != nil {
		return err
	}
	var live []Session
	for _, s := range all {
		if !now.Before(s.Expires) {
			if err := k.Delete(ctx, s.Key); err != nil {
				return err
			}
			continue
		}
		live = append(live, s)
	}
	for len(live) >= k.max {
		lru := 0
		for i, s := range live {
			if s.Seen.Before(live[lru].Seen) {
				lru = i
			}
		}
		if err := k.Delete(ctx, live[lru].Key); err != nil {
			return err
		}
		live = append(live[:lru], live[lru+1:]...)
	}
	return nil
}

// sessions returns every session in the bucket, read in one pass.
func (k *KVStore) sessions(ctx context.Context) ([]Session, error) {
	var all []Session
	w, err := k.b.Watch(ctx, "", func(e engine.Entry) {
		if e.Op != engine.OpPut {
			return
		}
		if s, revoked, err := decodeRecord(e); err == nil && !revoked {
			all = append(all, s)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("auth: reading sessions: %w", err)
	}
	select {
	case <-w.Ready():
		w.Stop()
		return all, nil
	case <-ctx.Done():
		w.Stop()
		return nil, fmt.Errorf("auth: reading sessions: %w", ctx.Err())
	}
}

// Get returns the session with key, or ErrNoSession.
func (k *KVStore) Get(ctx context.Context, key string) (Session, error) {
	e, err := k.b.Get(ctx, key)
	if errors.Is(err, engine.ErrNotFound) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("auth: reading a session: %w", err)
	}
	s, revoked, err := decodeRecord(e)
	if revoked {
		return Session{}, ErrNoSession
	}
	return s, err
}

// Update replaces the session with s.Key, or returns ErrNoSession if it
// has none: the write is conditional on the revision read, so a session
// deleted meanwhile (by another node too) is never brought back.
func (k *KVStore) Update(ctx context.Context, s Session) error {
	for {
		e, err := k.b.Get(ctx, s.Key)
		if errors.Is(err, engine.ErrNotFound) {
			return ErrNoSession
		}
		if err != nil {
			return fmt.Errorf("auth: reading a session: %w", err)
		}
		if _, revoked, _ := decodeRecord(e); revoked {
			return ErrNoSession
		}
		_, err = k.b.Update(ctx, s.Key, encode(s), e.Revision)
		if errors.Is(err, engine.ErrRevision) {
			continue // written or deleted meanwhile: look again
		}
		if err != nil {
			return fmt.Errorf("auth: updating a session: %w", err)
		}
		return nil
	}
}

// Delete removes the session with key, if there is one.
func (k *KVStore) Delete(ctx context.Context, key string) error {
	if err := k.b.Delete(ctx, key); err != nil {
		return fmt.Errorf("auth: deleting a session: %w", err)
	}
	return nil
}

// Sweep removes the sessions expired at now.
func (k *KVStore) Sweep(ctx context.Context, now time.Time) error {
	all, err := k.sessions(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		if !now.Before(s.Expires) {
			if err := k.Delete(ctx, s.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// List returns the sessions in the bucket, expired ones not yet swept
// included, in no particular order; those being revoked are left out.
func (k *KVStore) List(ctx context.Context) ([]Session, error) {
	return k.sessions(ctx)
}

// Revoke ends the session with key for an admin or a change of its user,
// and returns it; ended is true for the one call, among all nodes, that
// ended it, and false (with no error) if it had ended already or another
// call is ending it. The winner is the one write that marks the session
// revoked over the revision it read; the session is deleted after, which
// every node's WatchEnds sees.
func (k *KVStore) Revoke(ctx context.Context, key string) (s Session, ended bool, err error) {
	for {
		e, err := k.b.Get(ctx, key)
		if errors.Is(err, engine.ErrNotFound) {
			return Session{}, false, nil
		}
		if err != nil {
			return Session{}, false, fmt.Errorf("auth: reading a session: %w", err)
		}
		s, revoked, err := decodeRecord(e)
		if err != nil || revoked {
			if err == nil {
				return Session{}, false, nil
			}
			// Damaged: delete it, no one can use it anyway.
			return Session{Key: key}, true, k.Delete(ctx, key)
		}
		b, _ := json.Marshal(record{Created: s.Created, Seen: s.Seen, Expires: s.Expires, Identity: s.Identity, Remote: s.Remote, Revoked: true}) // cannot fail
		_, err = k.b.Update(ctx, key, b, e.Revision)
		if errors.Is(err, engine.ErrRevision) {
			continue // used, revoked or deleted meanwhile: look again
		}
		if err != nil {
			return Session{}, false, fmt.Errorf("auth: revoking a session: %w", err)
		}
		return s, true, k.Delete(ctx, key)
	}
}

// Len returns how many sessions the store holds, expired ones not yet
// swept included.
func (k *KVStore) Len(ctx context.Context) (int, error) {
	keys, err := k.b.Keys(ctx)
	return len(keys), err
}

// WatchEnds calls fn with the key of each session deleted from the
// bucket, by this node or another (logout, a new login, expiry found by
// a Guard, a sweep), from one goroutine, until ctx is done or stop is
// called; stop waits for fn's last call. It starts with the sessions
// whose deletion the bucket still holds. It lets a node close the
// sockets of a session that another node ended.
func (k *KVStore) WatchEnds(ctx context.Context, fn func(key string)) (stop func(), err error) {
	w, err := k.b.Watch(ctx, "", func(e engine.Entry) {
		if e.Op != engine.OpPut {
			fn(e.Key)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("auth: watching sessions: %w", err)
	}
	return w.Stop, nil
}
