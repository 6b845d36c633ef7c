package procstat

import "math"

// Figures are what a host shows: the figures of a sample, and the rates
// between it and the sample before.
type Figures struct {
	// Rates is false when there was no sample before, or the host
	// rebooted between the two (another boot time, or the uptime went
	// backwards): CPU, Cores, RxRate and TxRate are then zero and mean
	// nothing.
	Rates bool `json:"rates"`

	CPU   float64   `json:"cpu"`   // percent of all cores busy, 0 to 100
	Cores []float64 `json:"cores"` // percent busy by core number; -1 for a core without figures (offline, or new)

	MemUsed  uint64 `json:"mem_used"` // bytes: MemTotal less MemAvailable
	MemTotal uint64 `json:"mem_total"`

	Load [3]float64 `json:"load"`

	HasNet bool    `json:"has_net"`
	RxRate float64 `json:"rx"` // bytes a second received, all interfaces but lo
	TxRate float64 `json:"tx"` // bytes a second sent

	HasDisk   bool   `json:"has_disk"`
	DiskUsed  uint64 `json:"disk_used"` // bytes of the root filesystem
	DiskTotal uint64 `json:"disk_total"`
}

// Compute returns the figures of cur, with the rates since prev (nil for
// the first sample). A counter that went backwards gives no negative rate
// and no spike: see the package documentation.
func Compute(prev, cur *Sample) Figures {
	f := Figures{
		MemUsed: cur.MemTotal - min(cur.MemAvailable, cur.MemTotal), MemTotal: cur.MemTotal,
		Load:   cur.Load,
		HasNet: cur.HasNet, HasDisk: cur.HasDisk, DiskUsed: cur.DiskUsed, DiskTotal: cur.DiskTotal,
	}
	if prev == nil || prev.BootTime != cur.BootTime || cur.Uptime <= prev.Uptime {
		return f
	}
	elapsed := cur.Uptime - prev.Uptime
	f.Rates = true
	f.CPU = busy(prev.CPU, cur.CPU)
	f.Cores = make([]float64, len(cur.Cores))
	for i, c := range cur.Cores {
		f.Cores[i] = -1
		if i < len(prev.Cores) && prev.Cores[i].Total > 0 && c.Total > 0 {
			f.Cores[i] = busy(prev.Cores[i], c)
		}
	}
	if cur.HasNet && prev.HasNet {
		var rx, tx uint64
		for _, c := range cur.Ifaces {
			for _, p := range prev.Ifaces {
				if p.Name == c.Name {
					rx += counterDelta(p.Rx, c.Rx)
					tx += counterDelta(p.Tx, c.Tx)
					break
				}
			}
		}
		f.RxRate, f.TxRate = float64(rx)/elapsed, float64(tx)/elapsed
	}
	return f
}

// busy returns the percent of the time between two CPU samples that was
// not idle. Counters that went backwards (a core taken offline and back,
// iowait that some kernels let decrease) count as no time, so the figure
// stays within 0 to 100.
func busy(prev, cur CPUTimes) float64 {
	if cur.Total <= prev.Total {
		return 0
	}
	total := cur.Total - prev.Total
	var idle uint64
	if cur.Idle > prev.Idle {
		idle = min(cur.Idle-prev.Idle, total)
	}
	return math.Round(1000*float64(total-idle)/float64(total)) / 10
}

// counterDelta returns how much a byte counter grew. A counter below 2^32
// that went backwards from the top half of that range wrapped (32-bit
// counters of older kernels and some drivers): the delta goes through
// the wrap. Any other decrease is a reset (a driver reloaded, an
// interface recreated) and counts from zero.
func counterDelta(prev, cur uint64) uint64 {
	switch {
	case cur >= prev:
		return cur - prev
	case prev < 1<<32 && prev >= 1<<31 && cur < 1<<31:
		return 1<<32 - prev + cur
	default:
		return cur
	}
}
