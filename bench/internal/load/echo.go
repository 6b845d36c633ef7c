package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// EchoConfig describes an echo run.
type EchoConfig struct {
	Addr     string
	Conns    int
	Size     int  // payload bytes
	Compress bool // send compressed frames; the server must accept permessage-deflate
	Warmup   time.Duration
	Duration time.Duration
	// Verify checks every reply against the message sent (slower; for
	// tests).
	Verify bool
	// Replies, if set, makes each connection stop after that many
	// replies instead of after Warmup+Duration (for tests: a count, not
	// a time, so a loaded machine only makes it slower). ctx bounds it.
	Replies uint64
	// Window, if set, is called when the measured window opens and when
	// it closes, to sample CPU time.
	Window func(open bool)
}

// EchoResult is what an echo run measured in its window.
type EchoResult struct {
	Msgs    uint64        // replies received
	Elapsed time.Duration // length of the window
	Latency Hist          // time from writing a message to reading its reply
	// Negotiated reports whether the server accepted permessage-deflate.
	Negotiated bool
}

// MsgsPerSec is the reply rate.
func (r *EchoResult) MsgsPerSec() float64 { return float64(r.Msgs) / r.Elapsed.Seconds() }

// ErrNotNegotiated is returned by Echo when compressed frames were asked
// for and the server declined permessage-deflate.
var ErrNotNegotiated = errors.New("server declined permessage-deflate")

const (
	phaseWarmup = iota
	phaseMeasure
	phaseStop
)

// splitWriteAbove is the payload size above which a connection's writes go
// through a goroutine of their own: a server that streams the echo back
// while the message is still arriving would otherwise deadlock with a
// client that reads only after it has written.
const splitWriteAbove = 64 << 10

// Echo runs a closed loop on each of cfg.Conns connections: write a
// message, read the reply, repeat. The run lasts Warmup+Duration plus the
// time to connect and at most a few seconds to stop.
func Echo(ctx context.Context, cfg EchoConfig) (*EchoResult, error) {
	d := &Dialer{Addr: cfg.Addr, Deflate: cfg.Compress}
	bufSize := min(64<<10, max(4<<10, 2*cfg.Size))
	conns, err := d.DialMany(ctx, cfg.Conns, "/", bufSize, 64)
	if err != nil {
		return nil, err
	}
	defer CloseAll(conns)
	if cfg.Compress && !conns[0].Deflate {
		return nil, ErrNotNegotiated
	}

	payload := Payload(cfg.Size)
	wire := payload
	if cfg.Compress {
		wire = Deflate(payload)
	}
	msg := Frame(wire, cfg.Compress)

	var (
		phase atomic.Int32
		wg    sync.WaitGroup
		mu    sync.Mutex
		res   = &EchoResult{Negotiated: conns[0].Deflate}
		errs  []error
	)
	for _, c := range conns {
		wg.Go(func() {
			h, n, err := echoLoop(c, msg, payload, cfg.Size, cfg.Verify, cfg.Replies, &phase)
			mu.Lock()
			res.Latency.Merge(h)
			res.Msgs += n
			if err != nil && phase.Load() != phaseStop {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}

	if cfg.Replies > 0 {
		start := time.Now()
		phase.Store(phaseMeasure)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			phase.Store(phaseStop)
			CloseAll(conns)
			<-done
		}
		res.Elapsed = time.Since(start)
		if len(errs) > 0 {
			return res, fmt.Errorf("%d of %d connections failed; first: %w", len(errs), len(conns), errs[0])
		}
		return res, ctx.Err()
	}

	sleep(ctx, cfg.Warmup)
	if cfg.Window != nil {
		cfg.Window(true)
	}
	start := time.Now()
	phase.Store(phaseMeasure)
	sleep(ctx, cfg.Duration)
	phase.Store(phaseStop)
	res.Elapsed = time.Since(start)
	if cfg.Window != nil {
		cfg.Window(false)
	}

	// Let each loop finish its message, then cut off the stragglers.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		CloseAll(conns)
		<-done
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%d of %d connections failed; first: %w", len(errs), len(conns), errs[0])
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

func echoLoop(c *Conn, msg, payload []byte, size int, verify bool, replies uint64, phase *atomic.Int32) (*Hist, uint64, error) {
	h := new(Hist)
	var n uint64
	var got []byte
	var dst *[]byte
	if verify {
		dst = &got
	}

	// Writes go inline, or through a goroutine for large messages.
	write := func() error { _, err := c.Write(msg); return err }
	if size > splitWriteAbove {
		reqs := make(chan struct{}, 1)
		werr := make(chan error, 1)
		defer close(reqs)
		go func() {
			for range reqs {
				if _, err := c.Write(msg); err != nil {
					werr <- err
					return
				}
			}
		}()
		write = func() error {
			select {
			case err := <-werr:
				return err
			default:
			}
			reqs <- struct{}{}
			return nil
		}
	}

	for {
		if phase.Load() == phaseStop {
			return h, n, nil
		}
		t0 := time.Now()
		if err := write(); err != nil {
			return h, n, err
		}
		got = got[:0]
		_, compressed, err := readMessage(c.br, dst)
		if err != nil {
			return h, n, err
		}
		d := time.Since(t0)
		if verify {
			if compressed {
				if got, err = Inflate(got); err != nil {
					return h, n, fmt.Errorf("inflating the reply: %w", err)
				}
			}
			if !bytes.Equal(got, payload) {
				return h, n, fmt.Errorf("reply of %d bytes differs from the %d bytes sent", len(got), len(payload))
			}
		}
		// A reply counts if it arrives in the window, whenever its
		// message was sent: that is what a throughput is.
		if phase.Load() == phaseMeasure {
			h.Record(d)
			n++
		}
		if replies > 0 && n >= replies {
			return h, n, nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
