package fleetmon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"golang.org/x/crypto/ssh"

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

	// A channel of our own rather than an ssh.Session: the session's
	// goroutines (its requests, and the copies of stdin and stdout) are
	// not needed to read one stream. Stdout is read here; stderr, where
	// the loop sends nothing (2>/dev/null) but a login shell's startup
	// files may, is drained by one goroutine, so that it cannot hold the
	// channel's window (and up to 2 MiB) unread.
	ch, chReqs, err := c.OpenChannel("session", nil)
	if err != nil {
		return false
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		discard{}.ReadFrom(ch.Stderr())
	}()
	defer func() {
		c.Close() // ends the stderr drain
		<-drained
	}()
	ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{procstat.Loop(f.opts.Interval)}))
	if err != nil || !ok {
		return false
	}
	pending := requests{global: c.Reqs, chans: c.Chans, channel: chReqs}
	r := procstat.NewReader(ch, f.opts.Limits)
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
		pending.answer()
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

// requests are what a server sends besides output: global requests
// (OpenSSH's hostkeys-00@openssh.com after login, keep-alives), channel
// opens, and the session channel's requests (keep-alives, exit-status).
// Each channel holds a few before the connection stalls; a sampler
// answers them after each sample, without a goroutine of its own for
// them.
type requests struct {
	global  <-chan *ssh.Request
	chans   <-chan ssh.NewChannel
	channel <-chan *ssh.Request
}

// answer refuses what has come, without waiting for more.
func (q *requests) answer() {
	for {
		select {
		case r, ok := <-q.global:
			if !ok {
				q.global = nil
			} else if r.WantReply {
				r.Reply(false, nil)
			}
		case r, ok := <-q.channel:
			if !ok {
				q.channel = nil
			} else if r.WantReply {
				r.Reply(false, nil)
			}
		case nc, ok := <-q.chans:
			if !ok {
				q.chans = nil
			} else {
				nc.Reject(ssh.Prohibited, "no channels are opened to this client")
			}
		default:
			return
		}
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
