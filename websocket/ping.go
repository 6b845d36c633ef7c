package websocket

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Ping sends a ping and waits for its pong, or for the pong of a ping sent
// after it: a peer may answer only the most recent of several pings (RFC
// 6455 section 5.5.3). The pong is read by the connection's reader, so
// another goroutine must be reading. Once a close frame was sent, Ping
// fails.
func (c *Conn) Ping(ctx context.Context) error {
	if err := c.lockFrame(ctx, opPing); err != nil {
		return err
	}
	// Ids are given in the order the pings go out, under the frame lock,
	// so that a pong answers every ping with an id up to its own.
	id := c.pingSeq.Add(1)
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], id)
	done := make(chan struct{})
	c.pingMu.Lock()
	if c.pings == nil {
		c.pings = make(map[uint64]chan struct{})
	}
	c.pings[id] = done
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, id)
		c.pingMu.Unlock()
	}()
	err := c.sendFrameLocked(ctx, header{fin: true, op: opPing}, p[:], nil)
	c.frameMu.unlock()
	if err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("websocket: ping: %w", context.Cause(ctx))
	case <-c.closed:
		return c.closedErr()
	}
}

// gotPong wakes the Ping that p answers, and every Ping sent before it. A
// pong that answers no ping sent is ignored (RFC 6455 section 5.5.3).
func (c *Conn) gotPong(p []byte) {
	if len(p) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(p)
	if id == 0 || id > c.pingSeq.Load() {
		return
	}
	c.pingMu.Lock()
	for pid, done := range c.pings {
		if pid <= id {
			close(done)
			delete(c.pings, pid)
		}
	}
	c.pingMu.Unlock()
}

// keepalive pings the peer every PingInterval and closes the connection if
// a pong does not come within PingTimeout. It ends with the connection.
func (c *Conn) keepalive() {
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.PingTimeout)
		err := c.Ping(ctx)
		cancel()
		if err != nil {
			// A close handshake under way is left to finish.
			if c.closedErr() == nil && !c.closeSent.Load() {
				c.closeConn(fmt.Errorf("websocket: keepalive: no pong within %v: %w", c.opts.PingTimeout, err))
			}
			return
		}
	}
}
