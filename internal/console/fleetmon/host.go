package fleetmon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/fleet/procstat"
)

// sample keeps a session on h running the loop, and publishes its
// records, until ctx is done. A session that ends (or sends nothing for
// Down) is dialled again after a backoff with jitter, reset by a session
// that delivered samples.
func (f *Fleet) sample(ctx context.Context, h hostexpr.Host, tok string) {
	wait := f.opts.RetryMin
	for ctx.Err() == nil {
		if f.session(ctx, h, tok) {
			wait = f.opts.RetryMin
		}
		d := wait + rand.N(wait/2+1)
		wait = min(2*wait, f.opts.RetryMax)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session runs one SSH session on h; it reports whether it read samples.
func (f *Fleet) session(ctx context.Context, h hostexpr.Host, tok string) (sampled bool) {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	f.mu.Lock()
	f.dialled[h.String()]++
	f.mu.Unlock()
	c, err := f.opts.Dial(ctx, h)
	<-f.sem
	if err != nil {
		if ctx.Err() == nil {
			why, msg := batch.StatusError.String(), err.Error()
			var de *batch.DialError
			if errors.As(err, &de) {
				why, msg = de.Status.String(), de.Err.Error()
			}
			f.publish(ctx, tok, Record{Host: h.String(), State: StateDown, Why: why, Err: msg})
		}
		return false
	}
	defer c.Close()
	// Cut the connection when ctx ends, or when no sample came for Down
	// (a connection cut without a FIN, a host that hangs).
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	quiet := time.AfterFunc(f.opts.Down, func() { c.Close() })
	defer quiet.Stop()

	sess, err := c.NewSession()
	if err != nil {
		return false
	}
	defer sess.Close()
	sess.Stderr = discard{} // the loop sends nothing there (2>/dev/null)
	out, err := sess.StdoutPipe()
	if err != nil {
		return false
	}
	if err := sess.Start(procstat.Loop(f.opts.Interval)); err != nil {
		return false
	}
	r := procstat.NewReader(out, f.opts.Limits)
	var prev *procstat.Sample
	for {
		s, err := r.Next()
		if errors.Is(err, procstat.ErrUnsupported) {
			f.publish(ctx, tok, Record{Host: h.String(), State: StateUnsupported, Why: "unsupported", Err: err.Error()})
			return sampled
		}
		if err != nil {
			return sampled
		}
		quiet.Reset(f.opts.Down)
		fig := procstat.Compute(prev, &s)
		prev = &s
		sampled = true
		f.publish(ctx, tok, Record{Host: h.String(), State: StateUp, Fig: &fig})
	}
}

// publish stores rec on the host's subject, stamped now.
func (f *Fleet) publish(ctx context.Context, tok string, rec Record) {
	rec.Time = time.Now().UnixMilli()
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max(f.opts.Interval, time.Second))
	defer cancel()
	if _, err := f.stream.Publish(ctx, subject(tok), b, ""); err != nil && ctx.Err() == nil {
		f.log.Debug("fleetmon: record not stored", "host", rec.Host, "err", fmt.Sprint(err))
	}
}

// discard drops what is written to it, and reads with a small buffer of
// its own: x/crypto/ssh copies a session's stderr to its Stderr in a
// goroutine for the session's life, and io.Discard's ReadFrom holds an
// 8 KiB buffer from its pool all that time, for each host.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (discard) ReadFrom(r io.Reader) (int64, error) {
	var buf [256]byte
	var n int64
	for {
		m, err := r.Read(buf[:])
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
