package harness

import (
	"context"
	"time"
)

// window samples CPU time over a measured interval: the server's, the load
// generator's, and the rest of the machine's.
type window struct {
	p *proc
	// cpu, if set, is the server's CPU time instead of p's (a server of
	// several processes).
	cpu func() (time.Duration, error)

	t0             time.Time
	s0, c0, m0     time.Duration
	elapsed        time.Duration
	server, client time.Duration
	others         time.Duration
	d0, drops      int64 // packets the kernel dropped on input (loopback included)
}

func (w *window) sample(open bool) {
	var s time.Duration
	if w.cpu != nil {
		s, _ = w.cpu()
	} else {
		s, _ = w.p.cpu()
	}
	c := selfCPU()
	m := machineBusy()
	d := netDrops()
	if open {
		w.t0, w.s0, w.c0, w.m0, w.d0 = time.Now(), s, c, m, d
		return
	}
	w.drops = d - w.d0
	w.elapsed = time.Since(w.t0)
	w.server = s - w.s0
	w.client = c - w.c0
	w.others = max(0, m-w.m0-w.server-w.client)
}

// cores turns a CPU time over the window into a number of cores busy.
func (w *window) cores(d time.Duration) float64 {
	if w.elapsed <= 0 {
		return 0
	}
	return d.Seconds() / w.elapsed.Seconds()
}

// quietBelow is the CPU, in cores, that other processes may use for the
// machine to count as quiet.
const quietBelow = 0.25

// waitQuiet waits, at most maxWait, for a quarter of a second in which the rest of
// the machine used less than quietBelow cores; a measurement then starts
// on a machine as quiet as it is going to get. It returns the time waited.
func waitQuiet(ctx context.Context, maxWait time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < maxWait && ctx.Err() == nil {
		b0, c0, t0 := machineBusy(), selfCPU(), time.Now()
		time.Sleep(250 * time.Millisecond)
		others := (machineBusy() - b0 - (selfCPU() - c0)).Seconds() / time.Since(t0).Seconds()
		if others < quietBelow {
			break
		}
	}
	return time.Since(start)
}
