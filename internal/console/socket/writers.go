package socket

import "time"

// writerIdle is how long a writer goroutine waits for another connection to
// write for, once its own queue is empty, before it returns.
const writerIdle = 2 * time.Second

// idleWriters hands a connection with frames to write to a writer goroutine
// that has just finished another connection's: a broadcast to thousands of
// sockets, many times a second, then reuses goroutines whose stacks have
// already grown to what a write takes, instead of starting (and growing) a
// goroutine for every socket, every message. The channel is unbuffered, so
// a connection is handed over only to a writer that waits for one; with
// none waiting, a new goroutine starts. Writers left idle return after
// writerIdle, so an idle server keeps none.
var idleWriters = make(chan *Conn)

// startWriter runs c's writer on an idle writer goroutine, or on a new one.
func startWriter(c *Conn) {
	select {
	case idleWriters <- c:
	default:
		go writer(c)
	}
}

// writer writes c's queue, then waits up to writerIdle for another
// connection to write for.
func writer(c *Conn) {
	var idle *time.Timer
	for {
		c.writeLoop()
		if idle == nil {
			idle = time.NewTimer(writerIdle)
		} else {
			idle.Reset(writerIdle)
		}
		select {
		case c = <-idleWriters:
		case <-idle.C:
			return
		}
	}
}
