package engine

import (
	"context"
	"sync"
	"time"
)

// shared lets concurrent callers of one read-only request (a stream's
// info, the last sequence of a subject) share a round trip to the server.
// Each caller gets the answer of a request sent after it called, as if it
// had sent its own: a caller that arrives while the request for its key
// is in flight waits for the next, which starts when that one ends and
// answers everyone who arrived meanwhile. A thousand pages joining at
// once thus cost a few requests, not a thousand. Unlike singleflight, no
// caller is given an answer older than its call.
type shared[K comparable, T any] struct {
	do func(context.Context, K) (T, error)

	mu sync.Mutex
	// keys holds the keys with a request in flight, and for each the
	// callers waiting for the next request (nil if none).
	keys map[K]*sharedCall[T]
}

type sharedCall[T any] struct {
	done    chan struct{}
	v       T
	err     error
	callers int // under shared.mu, until the request is sent
}

// sharedTimeout bounds one shared request; each caller's own context
// bounds its wait.
const sharedTimeout = 10 * time.Second

// get returns the answer to a request for k sent after get was called, or
// ctx's error if ctx ends first.
func (s *shared[K, T]) get(ctx context.Context, k K) (T, error) {
	s.mu.Lock()
	if s.keys == nil {
		s.keys = make(map[K]*sharedCall[T])
	}
	next, inFlight := s.keys[k]
	c := next
	switch {
	case !inFlight:
		c = &sharedCall[T]{done: make(chan struct{})}
		s.keys[k] = nil
		s.send(k, c)
	case next == nil:
		c = &sharedCall[T]{done: make(chan struct{})}
		s.keys[k] = c
	}
	c.callers++
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// send makes the request for k and answers c's callers, then sends the
// next request for those who came meanwhile.
func (s *shared[K, T]) send(k K, c *sharedCall[T]) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		c.v, c.err = s.do(ctx, k)
		cancel()
		close(c.done)
		s.mu.Lock()
		defer s.mu.Unlock()
		if next := s.keys[k]; next != nil {
			s.keys[k] = nil
			s.send(k, next)
			return
		}
		delete(s.keys, k)
	}()
}
