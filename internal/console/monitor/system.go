package monitor

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
)

// SystemSource samples this machine through gopsutil. It is used by one
// goroutine at a time.
type SystemSource struct {
	diskPath string

	primed   bool
	last     time.Time
	lastCPU  []cpu.TimesStat
	lastRx   uint64
	lastTx   uint64
	loopback map[string]bool // interface names, found when first primed
}

// NewSystemSource returns a source that reports the disk usage of the file
// system holding diskPath ("" means "/").
func NewSystemSource(diskPath string) *SystemSource {
	if diskPath == "" {
		diskPath = "/"
	}
	return &SystemSource{diskPath: diskPath}
}

// Sample takes a sample. CPU is required; memory, load, network and disk are
// best effort (zero where the platform does not say).
func (s *SystemSource) Sample(ctx context.Context) (Sample, error) {
	now := time.Now()
	times, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return Sample{}, fmt.Errorf("cpu times: %w", err)
	}
	if s.loopback == nil {
		s.loopback = loopbackNames(ctx)
	}
	out := Sample{Time: now.UnixMilli()}
	if s.primed && len(s.lastCPU) == len(times) {
		var busy, total float64
		out.Cores = make([]float64, len(times))
		for i, t := range times {
			b, a := cpuBusyTotal(t)
			pb, pa := cpuBusyTotal(s.lastCPU[i])
			out.Cores[i] = percent(b-pb, a-pa)
			busy += b - pb
			total += a - pa
		}
		out.CPU = percent(busy, total)
	} else {
		out.Cores = make([]float64, len(times))
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		out.MemUsed, out.MemAvailable, out.MemTotal = vm.Used, vm.Available, vm.Total
	}
	if la, err := load.AvgWithContext(ctx); err == nil {
		out.Load = [3]float64{round2(la.Load1), round2(la.Load5), round2(la.Load15)}
	}
	if nics, err := net.IOCountersWithContext(ctx, true); err == nil {
		var rx, tx uint64
		for _, n := range nics {
			if !s.loopback[n.Name] {
				rx += n.BytesRecv
				tx += n.BytesSent
			}
		}
		if dt := now.Sub(s.last).Seconds(); s.primed && dt > 0 {
			out.NetRx = rate(rx, s.lastRx, dt)
			out.NetTx = rate(tx, s.lastTx, dt)
		}
		s.lastRx, s.lastTx = rx, tx
	}
	if du, err := disk.UsageWithContext(ctx, s.diskPath); err == nil {
		out.DiskUsed, out.DiskTotal = du.Used, du.Total
	}
	s.last, s.lastCPU, s.primed = now, times, true
	return out, nil
}

// cpuBusyTotal returns the seconds a CPU was busy, and in all.
func cpuBusyTotal(t cpu.TimesStat) (busy, total float64) {
	// On Linux, guest time is already counted in user time.
	total = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	return total - t.Idle - t.Iowait, total
}

func percent(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return math.Round(min(100, max(0, 100*part/whole))*10) / 10
}

// rate is the bytes a second between two counter readings; a counter that
// went back (an interface gone, a wrap) reads as 0.
func rate(now, before uint64, seconds float64) float64 {
	if now < before {
		return 0
	}
	return math.Round(float64(now-before) / seconds)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// loopbackNames returns the names of the loopback interfaces, whose traffic
// (the console's own, among others) the network rates leave out.
func loopbackNames(ctx context.Context) map[string]bool {
	names := map[string]bool{}
	ifs, err := net.InterfacesWithContext(ctx)
	if err != nil {
		names["lo"] = true
		return names
	}
	for _, i := range ifs {
		for _, f := range i.Flags {
			if f == "loopback" {
				names[i.Name] = true
			}
		}
	}
	return names
}
