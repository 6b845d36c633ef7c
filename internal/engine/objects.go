package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ObjectsConfig describes an object store: named blobs of any size, kept
// in chunks.
type ObjectsConfig struct {
	// Name is the store's name: letters, digits, - and _ only.
	Name string
	// TTL is how long an object is kept after it was written; zero means
	// forever.
	TTL time.Duration
	// MaxBytes bounds the store's size; zero means no limit.
	MaxBytes int64
	// Replicas is how many servers keep a copy. Zero means the engine's
	// default, min(3, cluster size).
	Replicas int
}

// Objects is an object store. Its methods may be called from any
// goroutine.
type Objects struct {
	e    *Engine
	name string
	os   jetstream.ObjectStore
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Name     string
	Size     uint64
	Modified time.Time
	Digest   string // "SHA-256=" and the base64url digest of the content
}

// Objects creates the object store cfg describes, or updates the existing
// one of that name to match it, and returns it.
func (e *Engine) Objects(ctx context.Context, cfg ObjectsConfig) (*Objects, error) {
	if e.closing.Load() {
		return nil, ErrClosed
	}
	if cfg.Name == "" {
		return nil, errors.New("object store config: a name is required")
	}
	jc := jetstream.ObjectStoreConfig{
		Bucket:   cfg.Name,
		TTL:      cfg.TTL,
		MaxBytes: unlimited(cfg.MaxBytes),
		Storage:  jetstream.FileStorage,
	}
	var os jetstream.ObjectStore
	err := e.withReplicas(ctx, cfg.Replicas, func(ctx context.Context, r int) (err error) {
		jc.Replicas = r
		// Create first; see withReplicas.
		os, err = e.js.CreateObjectStore(ctx, jc)
		if errors.Is(err, jetstream.ErrBucketExists) {
			os, err = e.js.UpdateObjectStore(ctx, jc)
		}
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return errInFlight // another node's create is under way
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", cfg.Name, e.classify(err))
	}
	return &Objects{e: e, name: cfg.Name, os: os}, nil
}

// Name returns the store's name.
func (o *Objects) Name() string { return o.name }

func (o *Objects) err(op, name string, err error) error {
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		err = ErrNotFound
	} else {
		err = o.e.classify(err)
	}
	return fmt.Errorf("%s %s/%s: %w", op, o.name, name, err)
}

// Put stores what r yields, to its end, as the object name, replacing any
// object of that name once it is stored whole.
func (o *Objects) Put(ctx context.Context, name string, r io.Reader) (ObjectInfo, error) {
	if o.e.closing.Load() {
		return ObjectInfo{}, ErrClosed
	}
	in, err := o.os.Put(ctx, jetstream.ObjectMeta{Name: name}, r)
	if err != nil {
		return ObjectInfo{}, o.err("put", name, err)
	}
	return objectInfo(in), nil
}

// Get returns the object name to read, and its description. The caller
// must close the reader; reading fails if the content does not match its
// digest.
func (o *Objects) Get(ctx context.Context, name string) (io.ReadCloser, ObjectInfo, error) {
	if o.e.closing.Load() {
		return nil, ObjectInfo{}, ErrClosed
	}
	res, err := o.os.Get(ctx, name)
	if err != nil {
		return nil, ObjectInfo{}, o.err("get", name, err)
	}
	in, err := res.Info()
	if err != nil {
		res.Close()
		return nil, ObjectInfo{}, o.err("get", name, err)
	}
	return res, objectInfo(in), nil
}

// Stat returns the description of the object name.
func (o *Objects) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	if o.e.closing.Load() {
		return ObjectInfo{}, ErrClosed
	}
	in, err := o.os.GetInfo(ctx, name)
	if err != nil {
		return ObjectInfo{}, o.err("stat", name, err)
	}
	return objectInfo(in), nil
}

// Delete removes the object name.
func (o *Objects) Delete(ctx context.Context, name string) error {
	if o.e.closing.Load() {
		return ErrClosed
	}
	if err := o.os.Delete(ctx, name); err != nil {
		return o.err("delete", name, err)
	}
	return nil
}

// List returns the stored objects' descriptions, in no particular order.
func (o *Objects) List(ctx context.Context) ([]ObjectInfo, error) {
	if o.e.closing.Load() {
		return nil, ErrClosed
	}
	ins, err := o.os.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, o.err("list", "*", err)
	}
	out := make([]ObjectInfo, len(ins))
	for i, in := range ins {
		out[i] = objectInfo(in)
	}
	return out, nil
}

func objectInfo(in *jetstream.ObjectInfo) ObjectInfo {
	return ObjectInfo{Name: in.Name, Size: in.Size, Modified: in.ModTime, Digest: in.Digest}
}
