package websocket

import "context"

// ctxMutex is a mutex whose Lock gives up when a context is done, so that a
// writer queued behind a slow message honours its context.
type ctxMutex struct {
	ch chan struct{}
}

func newCtxMutex() ctxMutex { return ctxMutex{ch: make(chan struct{}, 1)} }

// lock acquires m, or returns ctx.Err() if ctx is done first. closed, when
// it is closed, also ends the wait with net.ErrClosed's stand-in errClosed.
func (m ctxMutex) lock(ctx context.Context, closed <-chan struct{}) error {
	select {
	case m.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case m.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return errClosed
	}
}

func (m ctxMutex) tryLock() bool {
	select {
	case m.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

func (m ctxMutex) unlock() { <-m.ch }
