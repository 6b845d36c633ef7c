package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Live is the policy in force: the file given to the console, read at
// start and again on Reload, or Default when there is none. Readers call
// Policy for every decision, so a reload applies at once to every open
// connection. A bad file on reload leaves the policy in force as it was.
// Its methods are safe for concurrent use.
type Live struct {
	path string
	opts Options

	cur    atomic.Pointer[loaded]
	reload sync.Mutex // one Reload at a time, so that loads apply in order
}

// loaded is a policy with the hash of the file it came from.
type loaded struct {
	p    *Policy
	hash string
}

// LoadResult is the outcome of reading the policy file: which file, the
// SHA-256 of its contents (hex; "" when it could not be read), and the
// error that kept it from applying, if any.
type LoadResult struct {
	File string
	Hash string
	Err  error
	// Changed is false when the file is the one in force (same hash).
	Changed bool
}

// NewLive reads the policy file at path under opts, or, for path "",
// holds Default(opts). An error (an *Error for a fault in the file) means
// there is no policy to run with: the console must not start.
func NewLive(path string, opts *Options) (*Live, LoadResult, error) {
	l := &Live{path: path}
	if opts != nil {
		l.opts = *opts
	}
	if path == "" {
		l.cur.Store(&loaded{p: Default(&l.opts)})
		return l, LoadResult{File: "", Changed: true}, nil
	}
	p, ld := l.read()
	if ld.Err != nil {
		return nil, ld, ld.Err
	}
	l.cur.Store(&loaded{p: p, hash: ld.Hash})
	ld.Changed = true
	return l, ld, nil
}

// Policy returns the policy in force.
func (l *Live) Policy() *Policy { return l.cur.Load().p }

// File returns the policy file's path, "" for none.
func (l *Live) File() string { return l.path }

// Hash returns the SHA-256 (hex) of the policy file in force, "" for none.
func (l *Live) Hash() string { return l.cur.Load().hash }

// Reload reads the file again. A good file takes the place of the policy
// in force at once; a bad one (unreadable, too large, or with a fault)
// leaves it, and LoadResult.Err says why. Without a file, Reload does nothing
// and reports LoadResult{}.
func (l *Live) Reload() LoadResult {
	if l.path == "" {
		return LoadResult{}
	}
	l.reload.Lock()
	defer l.reload.Unlock()
	p, ld := l.read()
	if ld.Err != nil {
		return ld
	}
	ld.Changed = ld.Hash != l.cur.Load().hash
	l.cur.Store(&loaded{p: p, hash: ld.Hash})
	return ld
}

// read reads and parses the file, and hashes what it read.
func (l *Live) read() (*Policy, LoadResult) {
	ld := LoadResult{File: l.path}
	f, err := os.Open(l.path)
	if err != nil {
		ld.Err = fmt.Errorf("policy: %w", err)
		return nil, ld
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		ld.Err = fmt.Errorf("policy: %w", err)
		return nil, ld
	}
	sum := sha256.Sum256(data)
	ld.Hash = hex.EncodeToString(sum[:])
	p, err := Parse(l.path, data, &l.opts)
	if err != nil {
		ld.Err = err
		return nil, ld
	}
	return p, ld
}
