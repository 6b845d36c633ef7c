package load

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// BroadcastConfig describes a broadcast run against a server in broadcast
// mode.
type BroadcastConfig struct {
	Addr   string
	Subs   int // subscribers
	Rounds int // measured messages
	Size   int // payload bytes, at least 8
	// Gap is the pause between rounds.
	Gap time.Duration
	// RoundTimeout bounds the wait for the last subscriber.
	RoundTimeout time.Duration
	// MaxDuration, if positive, ends the measured rounds early once it
	// has passed, so that a slow server or machine cannot stretch the run.
	MaxDuration time.Duration
	// Window, if set, is called before the first measured round and after
	// the last.
	Window func(open bool)
}

// BroadcastResult is what a broadcast run measured.
type BroadcastResult struct {
	// Last holds, per round, the time from writing the publisher's
	// message to the last subscriber's having read it.
	Last Hist
	// Missed counts rounds in which some subscriber did not get the
	// message within RoundTimeout.
	Missed int
	Rounds int // rounds run

}

const maxWarmup = 10

type round struct {
	count atomic.Int64
	last  atomic.Int64 // latest arrival, ns since the run's base time
	done  chan struct{}
}

// Broadcast connects cfg.Subs subscribers and a publisher, then publishes
// one message per round and times its arrival at the last subscriber. The
// first rounds, not measured, also wait for the server to have registered
// every subscriber.
func Broadcast(ctx context.Context, cfg BroadcastConfig) (*BroadcastResult, error) {
	size := max(cfg.Size, 8)
	d := &Dialer{Addr: cfg.Addr}
	subs, err := d.DialMany(ctx, cfg.Subs, "/sub", 4096, 128)
	if err != nil {
		return nil, err
	}
	defer CloseAll(subs)
	pub, err := d.Dial(ctx, "/pub", 4096)
	if err != nil {
		return nil, err
	}
	defer pub.Close()

	total := maxWarmup + cfg.Rounds
	rounds := make([]round, total)
	for i := range rounds {
		rounds[i].done = make(chan struct{})
	}
	base := time.Now()
	var wg sync.WaitGroup
	for _, c := range subs {
		wg.Go(func() {
			buf := make([]byte, 0, size)
			for {
				buf = buf[:0]
				if _, _, err := readMessage(c.br, &buf); err != nil {
					return
				}
				t := int64(time.Since(base))
				if len(buf) < 8 {
					continue
				}
				i := binary.BigEndian.Uint64(buf)
				if i >= uint64(total) {
					continue
				}
				r := &rounds[i]
				for {
					old := r.last.Load()
					if t <= old || r.last.CompareAndSwap(old, t) {
						break
					}
				}
				if r.count.Add(1) == int64(len(subs)) {
					close(r.done)
				}
			}
		})
	}
	defer func() {
		CloseAll(subs)
		wg.Wait()
	}()

	res := &BroadcastResult{}
	payload := Payload(size)
	// publish sends round i and waits for it; it reports whether every
	// subscriber got it in time, and how long the last one took.
	publish := func(i int, timeout time.Duration) (bool, time.Duration, error) {
		binary.BigEndian.PutUint64(payload, uint64(i))
		msg := Frame(payload, false)
		start := int64(time.Since(base))
		if _, err := pub.Write(msg); err != nil {
			return false, 0, fmt.Errorf("publisher: %w", err)
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-rounds[i].done:
			return true, time.Duration(rounds[i].last.Load() - start), nil
		case <-t.C:
			return false, 0, nil
		case <-ctx.Done():
			return false, 0, ctx.Err()
		}
	}

	// Warm up until two rounds in a row reach everyone: the server may
	// still be registering the last subscribers. (A round that times out
	// while subscribers are missing waits up to 3 s.)
	next, ok := 0, 0
	for ; ok < 2; next++ {
		if next == maxWarmup {
			return nil, fmt.Errorf("warm-up: after %d rounds, the last reached %d of %d subscribers",
				next, rounds[next-1].count.Load(), len(subs))
		}
		all, _, err := publish(next, min(cfg.RoundTimeout, 3*time.Second))
		if err != nil {
			return nil, err
		}
		if all {
			ok++
		} else {
			ok = 0
		}
		sleep(ctx, cfg.Gap)
	}

	if cfg.Window != nil {
		cfg.Window(true)
	}
	start := time.Now()
	for i := range cfg.Rounds {
		if cfg.MaxDuration > 0 && time.Since(start) > cfg.MaxDuration {
			break
		}
		res.Rounds++
		all, last, err := publish(next+i, cfg.RoundTimeout)
		if err != nil {
			return nil, err
		}
		if all {
			res.Last.Record(last)
		} else {
			res.Missed++
		}
		sleep(ctx, cfg.Gap)
	}
	if cfg.Window != nil {
		cfg.Window(false)
	}
	return res, nil
}
