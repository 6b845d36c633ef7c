package procstat

// CPUTimes are the time counters of a CPU line of /proc/stat, in the
// kernel's USER_HZ ticks: Total is the sum of user, nice, system, idle,
// iowait, irq, softirq and steal (guest time is inside user already);
// Idle is idle plus iowait.
type CPUTimes struct {
	Idle, Total uint64
}

// Iface is one network interface's byte counters from /proc/net/dev.
type Iface struct {
	Name   string
	Rx, Tx uint64
}

// Sample is one parsed sample of a host: its counters at one instant.
type Sample struct {
	BootTime int64   // btime of /proc/stat, seconds since the epoch; 0 if absent
	Uptime   float64 // seconds since boot, the first field of /proc/uptime

	CPU   CPUTimes   // all cores
	Cores []CPUTimes // by core number; a core absent from /proc/stat (offline) has Total 0

	MemTotal     uint64 // bytes
	MemAvailable uint64 // bytes: MemAvailable, or on kernels before 3.14 MemFree+Buffers+Cached

	Load [3]float64 // 1, 5 and 15 minute load averages

	Ifaces []Iface // every interface but lo, in the file's order
	HasNet bool    // /proc/net/dev was read

	DiskTotal, DiskUsed uint64 // bytes of the root filesystem, from df -P /
	HasDisk             bool
}
