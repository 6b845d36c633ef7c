package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// FanoutConfig describes a chat fan-out run: subscribers in one room,
// spread over the nodes of a server, and publishers sending timed texts
// at a fixed rate.
type FanoutConfig struct {
	Addrs []string // the server's nodes; connections are spread over them in turn
	Proto Proto
	Subs  int // subscribers
	Pubs  int // publishers, members of the room too
	// Rate is the messages per second of all publishers together. Each
	// message is scheduled at a fixed time (open loop) and stamped with
	// that time, so a publisher held up by the server does not hide the
	// delay.
	Rate     float64
	Warmup   int // messages before the measured ones, not timed
	Messages int // measured messages
	// Setup bounds joining and the warm-up: every warm-up message must
	// have reached every subscriber within it (which also waits out any
	// burst the joins caused).
	Setup time.Duration
	// Drain bounds the wait, after the last message is sent, for it to
	// reach everyone.
	Drain time.Duration
	// Window, if set, is called when the first measured message is about
	// to be sent and when the measured messages have reached everyone (or
	// Drain ran out).
	Window func(open bool)
}

// FanoutResult is what a fan-out run measured.
type FanoutResult struct {
	// Latency holds, per delivery of a measured message to a
	// subscriber, the time from its scheduled send to the subscriber's
	// read.
	Latency    Hist
	Deliveries uint64 // deliveries of measured messages
	Expected   uint64 // Messages × Subs
	// MinPerSub and MaxPerSub are the fewest and most stamped messages
	// (warm-up included) one subscriber got; every subscriber getting
	// every message exactly once makes both Warmup+Messages.
	MinPerSub, MaxPerSub uint64
	// SendLag is how far behind its schedule the last measured message
	// was sent: above a few milliseconds, the publishers could not keep
	// the rate.
	SendLag time.Duration
	Setup   time.Duration // from the first dial to the end of the warm-up
	// JoinRetries counts joins refused for a passing reason (ErrTryAgain)
	// and made again, as a page would.
	JoinRetries int64
	Elapsed     time.Duration // the measured window
}

// maxJoinAttempts bounds the joins of one connection refused with
// ErrTryAgain.
const maxJoinAttempts = 20

// histShards spreads the subscribers' latency records over a few locked
// histograms, rather than one each (16 KiB a histogram).
const histShards = 64

type fanout struct {
	cfg    FanoutConfig
	base   time.Time
	counts []atomic.Int32 // deliveries per message, to subscribers
	hists  [histShards]struct {
		sync.Mutex
		h Hist
	}
	perSub  []atomic.Uint64
	retries atomic.Int64
	errc    chan error // first failure of a connection
}

// fanConn is a connection whose writes come from more than one goroutine
// (a publisher's texts, and the answers to pings).
type fanConn struct {
	*Conn
	mu sync.Mutex
}

func (c *fanConn) send(op byte, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.Write(frame(op, payload, false))
	return err
}

// Fanout runs a fan-out: it joins cfg.Subs subscribers and cfg.Pubs
// publishers, sends cfg.Warmup untimed messages and waits for them to
// reach everyone, then sends cfg.Messages timed ones.
func Fanout(ctx context.Context, cfg FanoutConfig) (*FanoutResult, error) {
	if len(cfg.Addrs) == 0 || cfg.Subs <= 0 || cfg.Pubs <= 0 || cfg.Rate <= 0 || cfg.Messages <= 0 {
		return nil, errors.New("fanout: addresses, subscribers, publishers, a rate and messages are needed")
	}
	total := cfg.Warmup + cfg.Messages
	f := &fanout{cfg: cfg, base: time.Now(), counts: make([]atomic.Int32, total),
		perSub: make([]atomic.Uint64, cfg.Subs), errc: make(chan error, 1)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	setupCtx, setupCancel := context.WithTimeout(ctx, cfg.Setup)
	defer setupCancel()

	dialers := make([]*Dialer, len(cfg.Addrs))
	for i, a := range cfg.Addrs {
		dialers[i] = &Dialer{Addr: a, Header: cfg.Proto.Header()}
	}
	var conns []*fanConn
	var connsMu sync.Mutex
	var wg sync.WaitGroup
	defer func() {
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	}()

	var joinOnce func(i int) (*fanConn, error)
	// join opens connection i (subscribers first, then publishers), joins
	// the room, and leaves a goroutine reading it.
	join := func(i int) (*fanConn, error) {
		for attempt := 1; ; attempt++ {
			c, err := joinOnce(i)
			if err == nil || !errors.Is(err, ErrTryAgain) || attempt == maxJoinAttempts {
				return c, err
			}
			f.retries.Add(1)
			sleep(setupCtx, time.Duration(attempt)*100*time.Millisecond)
		}
	}
	joinOnce = func(i int) (*fanConn, error) {
		d := dialers[i%len(dialers)]
		c, err := d.Dial(setupCtx, cfg.Proto.Path(), 4096)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Addr, err)
		}
		fc := &fanConn{Conn: c}
		connsMu.Lock()
		conns = append(conns, fc)
		connsMu.Unlock()
		for _, m := range cfg.Proto.Join() {
			if err := fc.send(opText, m); err != nil {
				return nil, err
			}
		}
		joined := make(chan error, 1)
		sub := -1
		if i < cfg.Subs {
			sub = i
		}
		wg.Go(func() { f.read(fc, sub, joined) })
		select {
		case err := <-joined:
			if err != nil {
				fc.Close()
			}
			return fc, err
		case <-setupCtx.Done():
			return nil, fmt.Errorf("%s: not joined: %w", d.Addr, setupCtx.Err())
		}
	}
	pubs := make([]*fanConn, cfg.Pubs)
	{
		var next atomic.Int64
		var once sync.Once
		var firstErr error
		var jwg sync.WaitGroup
		n := cfg.Subs + cfg.Pubs
		for range min(128, n) {
			jwg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n || setupCtx.Err() != nil {
						return
					}
					c, err := join(i)
					if err != nil {
						once.Do(func() { firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err); setupCancel() })
						return
					}
					if i >= cfg.Subs {
						pubs[i-cfg.Subs] = c
					}
				}
			})
		}
		jwg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
	}

	res := &FanoutResult{Expected: uint64(cfg.Messages) * uint64(cfg.Subs)}
	// run sends messages [from, to) at the rate, from now on, and waits
	// for them to reach every subscriber, within ctx.
	run := func(ctx context.Context, from, to int) (lag time.Duration, err error) {
		t0 := time.Now()
		var pw sync.WaitGroup
		var lagNs atomic.Int64
		perr := make(chan error, len(pubs))
		for p, c := range pubs {
			pw.Go(func() {
				for seq := from + p; seq < to; seq += len(pubs) {
					at := t0.Add(time.Duration(float64(seq-from) / cfg.Rate * float64(time.Second)))
					if d := time.Until(at); d > 0 {
						sleep(ctx, d)
					}
					if ctx.Err() != nil {
						return
					}
					if seq == to-1 {
						lagNs.Store(int64(time.Since(at)))
					}
					text := string(appendStamp(nil, uint64(seq), int64(at.Sub(f.base))))
					if err := c.send(opText, cfg.Proto.Publish(text, uint64(seq)+1)); err != nil {
						perr <- fmt.Errorf("publisher %d: %w", p+1, err)
						return
					}
				}
			})
		}
		pw.Wait()
		select {
		case err := <-perr:
			return 0, err
		default:
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for seq := from; seq < to; {
			if f.counts[seq].Load() >= int32(cfg.Subs) {
				seq++
				continue
			}
			select {
			case <-tick.C:
			case err := <-f.errc:
				return 0, err
			case <-ctx.Done():
				return time.Duration(lagNs.Load()), fmt.Errorf("message %d reached %d of %d subscribers: %w",
					seq, f.counts[seq].Load(), cfg.Subs, ctx.Err())
			}
		}
		return time.Duration(lagNs.Load()), nil
	}
	if cfg.Warmup > 0 {
		if _, err := run(setupCtx, 0, cfg.Warmup); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	res.Setup = time.Since(f.base)
	res.JoinRetries = f.retries.Load()

	drainCtx, drainCancel := context.WithTimeout(ctx, time.Duration(float64(cfg.Messages)/cfg.Rate*float64(time.Second))+cfg.Drain)
	defer drainCancel()
	if cfg.Window != nil {
		cfg.Window(true)
	}
	start := time.Now()
	lag, runErr := run(drainCtx, cfg.Warmup, total)
	res.Elapsed = time.Since(start)
	if cfg.Window != nil {
		cfg.Window(false)
	}
	res.SendLag = lag
	for i := cfg.Warmup; i < total; i++ {
		res.Deliveries += uint64(f.counts[i].Load())
	}
	for i := range f.hists {
		f.hists[i].Lock()
		res.Latency.Merge(&f.hists[i].h)
		f.hists[i].Unlock()
	}
	res.MinPerSub = math.MaxUint64
	for i := range f.perSub {
		n := f.perSub[i].Load()
		res.MinPerSub = min(res.MinPerSub, n)
		res.MaxPerSub = max(res.MaxPerSub, n)
	}
	if runErr != nil && !errors.Is(runErr, context.DeadlineExceeded) {
		return res, runErr
	}
	// A run that could not deliver everything within Drain still has
	// figures; Deliveries < Expected says so.
	return res, nil
}

// read reads c until it closes: it reports the join on joined, answers
// pings, and, for subscriber sub (-1 for a publisher), records each
// stamped message.
func (f *fanout) read(c *fanConn, sub int, joined chan<- error) {
	buf := make([]byte, 0, 512)
	fail := func(err error) {
		select {
		case f.errc <- err:
		default:
		}
	}
	isJoined := false
	for {
		buf = buf[:0]
		op, err := readData(c.br, &buf, c)
		if err != nil {
			if !isJoined {
				joined <- err
			} else if !errors.Is(err, net.ErrClosed) {
				fail(fmt.Errorf("%s: %w", f.cfg.Proto.Name(), err))
			}
			return
		}
		if op != opText {
			continue
		}
		now := time.Since(f.base)
		if !isJoined {
			ok, err := f.cfg.Proto.Joined(buf)
			if err != nil {
				joined <- err
				return
			}
			if ok {
				isJoined = true
				joined <- nil
			}
		}
		reply, err := f.cfg.Proto.Reply(buf)
		if err != nil {
			fail(err)
		}
		if reply != nil {
			if err := c.send(opText, reply); err != nil {
				return
			}
		}
		if sub < 0 {
			continue
		}
		err = stamps(buf, func(seq uint64, ns int64) {
			if seq >= uint64(len(f.counts)) {
				return
			}
			f.counts[seq].Add(1)
			f.perSub[sub].Add(1)
			if seq >= uint64(f.cfg.Warmup) {
				s := &f.hists[sub%histShards]
				s.Lock()
				s.h.Record(now - time.Duration(ns))
				s.Unlock()
			}
		})
		if err != nil {
			fail(fmt.Errorf("%s: %w in %q", f.cfg.Proto.Name(), err, buf))
		}
	}
}

// readData reads frames from br until the end of a data message, which it
// appends to dst, and returns its opcode. It answers pings with pongs
// through c; a close frame ends it with errClosed.
func readData(br *bufio.Reader, dst *[]byte, c *fanConn) (byte, error) {
	var op byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return 0, err
		}
		if h[1]&maskBit != 0 {
			return 0, errors.New("server sent a masked frame")
		}
		size := uint64(h[1] & 0x7f)
		if size >= 126 {
			ext := 2
			if size == 127 {
				ext = 8
			}
			size = 0
			for range ext {
				b, err := br.ReadByte()
				if err != nil {
					return 0, err
				}
				size = size<<8 | uint64(b)
			}
		}
		if size > 16<<20 {
			return 0, fmt.Errorf("frame of %d bytes", size)
		}
		fop := h[0] & 0x0f
		if fop >= opClose {
			p := make([]byte, size)
			if _, err := io.ReadFull(br, p); err != nil {
				return 0, err
			}
			switch fop {
			case opClose:
				return 0, fmt.Errorf("%w: %q", errClosed, p)
			case opPing:
				if err := c.send(opPong, p); err != nil {
					return 0, err
				}
			}
			continue
		}
		if fop != opCont {
			op = fop
		}
		start := len(*dst)
		*dst = append(*dst, make([]byte, size)...)
		if _, err := io.ReadFull(br, (*dst)[start:]); err != nil {
			return 0, err
		}
		if h[0]&finBit != 0 {
			return op, nil
		}
	}
}

// Join opens one connection to addr and joins the room, then closes it:
// a probe that the server is ready to take members.
func Join(ctx context.Context, addr string, p Proto) error {
	d := &Dialer{Addr: addr, Header: p.Header()}
	c, err := d.Dial(ctx, p.Path(), 4096)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	fc := &fanConn{Conn: c}
	for _, m := range p.Join() {
		if err := fc.send(opText, m); err != nil {
			return err
		}
	}
	var buf []byte
	for {
		buf = buf[:0]
		op, err := readData(c.br, &buf, fc)
		if err != nil {
			return err
		}
		if op != opText {
			continue
		}
		if ok, err := p.Joined(buf); ok || err != nil {
			return err
		}
	}
}
