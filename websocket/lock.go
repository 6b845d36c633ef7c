package websocket

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// ctxMutex is a mutex whose lock gives up when a context is done or the
// connection closes, so that a writer queued behind a slow message honours
// its context. Its zero value is an unlocked mutex; it must not be copied.
//
// Uncontended, lock and unlock are one compare-and-swap each on state, with
// no channel operation. A goroutine that has to wait queues under mu with a
// channel of its own, and unlock hands the mutex to the first in the queue
// directly: the mutex stays locked across the hand-off, so a newcomer cannot
// barge ahead of the queue, and waiters are served in the order they came.
type ctxMutex struct {
	state atomic.Uint32 // mutexLocked | mutexWaiters

	// mu guards the queue, and state while mutexWaiters is set: only
	// holders of mu change state then (the fast paths' compare-and-swap
	// operations fail).
	mu         sync.Mutex
	head, tail *lockWaiter
}

const (
	mutexLocked  = 1 << iota
	mutexWaiters // the queue is not empty; set only with mutexLocked
)

// lockWaiter is a goroutine queued for a ctxMutex.
type lockWaiter struct {
	ready      chan struct{} // 1-buffered: the hand-off
	granted    bool          // the mutex was handed over; guarded by mu
	prev, next *lockWaiter   // guarded by mu
}

var lockWaiterPool = sync.Pool{New: func() any {
	return &lockWaiter{ready: make(chan struct{}, 1)}
}}

// lock acquires m, or returns ctx.Err() if ctx is done first. closed, when
// it is closed, also ends the wait with net.ErrClosed's stand-in errClosed.
func (m *ctxMutex) lock(ctx context.Context, closed <-chan struct{}) error {
	if m.state.CompareAndSwap(0, mutexLocked) {
		return nil
	}
	return m.lockCtxSlow(ctx, closed)
}

func (m *ctxMutex) lockCtxSlow(ctx context.Context, closed <-chan struct{}) error {
	switch m.lockSlow(ctx.Done(), closed, nil) {
	case lockAcquired:
		return nil
	case lockStop1:
		return ctx.Err()
	default:
		return errClosed
	}
}

func (m *ctxMutex) tryLock() bool {
	return m.state.CompareAndSwap(0, mutexLocked)
}

func (m *ctxMutex) unlock() {
	if m.state.CompareAndSwap(mutexLocked, 0) {
		return
	}
	m.unlockSlow()
}

// What ended lockOr's wait.
const (
	lockAcquired = iota // the caller holds the mutex
	lockStop1           // stop1 was closed
	lockStop2           // stop2 was closed
	lockTimeout         // timeout fired
)

// lockOr acquires m unless stop1 or stop2 is closed, or timeout fires,
// first; nil channels never end the wait. It returns lockAcquired or what
// ended the wait.
func (m *ctxMutex) lockOr(stop1, stop2 <-chan struct{}, timeout <-chan time.Time) int {
	if m.state.CompareAndSwap(0, mutexLocked) {
		return lockAcquired
	}
	return m.lockSlow(stop1, stop2, timeout)
}

func (m *ctxMutex) lockSlow(stop1, stop2 <-chan struct{}, timeout <-chan time.Time) int {
	m.mu.Lock()
	for {
		s := m.state.Load()
		if s&mutexLocked == 0 {
			// Unlocked since the fast path failed (so without waiters).
			if m.state.CompareAndSwap(s, mutexLocked) {
				m.mu.Unlock()
				return lockAcquired
			}
			continue
		}
		// From here on, unlock's fast path fails and it queues for mu,
		// so it cannot miss this waiter.
		if m.state.CompareAndSwap(s, s|mutexWaiters) {
			break
		}
	}
	w := lockWaiterPool.Get().(*lockWaiter)
	m.push(w)
	m.mu.Unlock()

	var r int
	select {
	case <-w.ready:
		w.granted = false
		lockWaiterPool.Put(w)
		return lockAcquired
	case <-stop1:
		r = lockStop1
	case <-stop2:
		r = lockStop2
	case <-timeout:
		r = lockTimeout
	}

	m.mu.Lock()
	if w.granted {
		// The mutex was handed over as the wait ended: pass it on, as
		// the caller gave up.
		m.mu.Unlock()
		<-w.ready
		w.granted = false
		lockWaiterPool.Put(w)
		m.unlock()
		return r
	}
	m.remove(w)
	m.mu.Unlock()
	lockWaiterPool.Put(w)
	return r
}

func (m *ctxMutex) unlockSlow() {
	m.mu.Lock()
	if m.state.Load()&mutexLocked == 0 {
		m.mu.Unlock()
		panic("websocket: unlock of unlocked ctxMutex")
	}
	w := m.head
	if w == nil {
		// The waiters gave up between the failed fast path and here.
		m.state.Store(0)
		m.mu.Unlock()
		return
	}
	// Hand over: the state stays locked.
	m.remove(w)
	w.granted = true
	w.ready <- struct{}{} // never blocks: one hand-off per wait
	m.mu.Unlock()
}

// push appends w to the queue. m.mu is held.
func (m *ctxMutex) push(w *lockWaiter) {
	w.prev, w.next = m.tail, nil
	if m.tail == nil {
		m.head = w
	} else {
		m.tail.next = w
	}
	m.tail = w
}

// remove takes w out of the queue, and clears mutexWaiters if it was the
// last. m.mu is held, and so is the mutex (mutexWaiters is set).
func (m *ctxMutex) remove(w *lockWaiter) {
	if w.prev == nil {
		m.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		m.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
	if m.head == nil {
		m.state.Store(mutexLocked)
	}
}
