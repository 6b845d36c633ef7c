package websocket

import (
	"context"
	"sync"
)

// maxOwedPongs is the most pongs owed at once. Past it, pings come faster
// than pongs go out (the write side is busy or blocked) and the owed pongs
// give way to the latest ping's alone, which RFC 6455 section 5.5.3 allows.
const maxOwedPongs = 16

// pongSlot holds the pongs owed to the peer. The reader adds to it and a
// goroutine of its own, sendPongs, writes them, so that reading never waits
// on writing: a pong can be held up behind a long message's frames, or by a
// peer that does not read, and a reader held up with it would outlast its
// ctx and stop draining the peer's frames (which the peer's own writes may
// wait on). Every ping is answered, in order, while the write side keeps
// up; a flood of pings costs at most maxOwedPongs pongs in memory.
type pongSlot struct {
	mu      sync.Mutex
	owed    []byte // payloads, each after a byte of its length; guarded by mu
	n       int    // pongs in owed; guarded by mu
	spare   []byte // the other buffer, while owed is not being written; guarded by mu
	sending bool   // sendPongs is running; guarded by mu
}

// maxKeptPongBuf is the largest buffer of owed pongs kept for the next
// ones: a flood's buffers are let go.
const maxKeptPongBuf = 256

// owePong records that a pong with payload p is owed to the peer and starts
// sendPongs unless it is running. It does not block on writing. Called by
// the reader, with readMu held.
func (c *Conn) owePong(p []byte) {
	s := c.pong.Load()
	if s == nil {
		// Only the reader stores the slot: no other store races this.
		s = new(pongSlot)
		c.pong.Store(s)
	}
	s.mu.Lock()
	if s.n == maxOwedPongs {
		s.owed, s.n = s.owed[:0], 0
	}
	s.owed = append(append(s.owed, byte(len(p))), p...)
	s.n++
	start := !s.sending
	s.sending = true
	s.mu.Unlock()
	if start {
		go c.sendPongs(s)
	}
}

// take returns the owed pongs and clears them; nil when none is owed. The
// buffer goes back with giveBack once written.
func (s *pongSlot) take() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return nil
	}
	owed := s.owed
	s.owed, s.spare, s.n = s.spare[:0], nil, 0
	return owed
}

// giveBack returns a buffer from take, to be reused if it is small.
func (s *pongSlot) giveBack(b []byte) {
	if cap(b) > maxKeptPongBuf {
		return
	}
	s.mu.Lock()
	s.spare = b
	s.mu.Unlock()
}

// more reports whether a pong is owed; if not, sendPongs is taken to have
// ended, so that the next owePong starts it again.
func (s *pongSlot) more() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		s.sending = false
	}
	return s.n > 0
}

// quit ends sendPongs for good: the connection is closed.
func (s *pongSlot) quit() {
	s.mu.Lock()
	s.owed, s.spare, s.n = nil, nil, 0
	s.sending = false
	s.mu.Unlock()
}

// sendPongs writes the owed pongs until none is owed. It takes them only
// once it holds the frame lock, so that the pings that came while it
// waited are all seen (and past maxOwedPongs, answered by the latest's
// pong). It ends when nothing is owed, or with the connection: a wait for
// the frame lock ends when the connection closes, and a blocked write when
// the socket does.
func (c *Conn) sendPongs(s *pongSlot) {
	for {
		if c.frameMu.lock(context.Background(), c.closed) != nil {
			s.quit()
			return
		}
		err := c.writeOwedPongsLocked(context.Background())
		c.frameMu.unlock()
		if err != nil {
			// The connection is closed; the next read reports why.
			s.quit()
			return
		}
		if !s.more() {
			return
		}
	}
}

// writeOwedPongsLocked writes the owed pongs, if any, with frameMu held.
// Nothing goes out after the close frame; sendFrame calls it just before
// it, so that the pings read before this side's close frame are answered.
func (c *Conn) writeOwedPongsLocked(ctx context.Context) error {
	s := c.pong.Load()
	if s == nil {
		return nil
	}
	owed := s.take()
	if owed == nil {
		return nil
	}
	defer s.giveBack(owed)
	for b := owed; len(b) > 0 && c.writeErr == nil && !c.closeWritten; {
		n := int(b[0])
		if err := c.sendFrameLocked(ctx, header{fin: true, op: opPong}, b[1:1+n], nil); err != nil {
			return err
		}
		b = b[1+n:]
	}
	return nil
}
