// Package procstat reads the kernel counters a Linux host prints through
// the fleet monitor's shell loop ([Loop]) and turns two consecutive
// samples into figures: CPU busy percent (all cores and per core), memory
// used of total, load averages, network receive and transmit rates, and the
// root filesystem's use.
//
// [Reader] splits the loop's output into samples and parses each one
// ([Sample]); [Compute] gives the figures between two samples
// ([Figures]). Output the parser does not know (a host without /proc, a
// shell that is not POSIX, another program's output) is reported as
// [ErrUnsupported], never as zeros. Counters that go backwards (a reboot,
// a 32-bit network counter that wraps, a driver reloaded) never produce a
// negative rate or a spike: a reboot (another boot time, or the uptime
// going backwards) yields figures without rates, a counter that wraps at
// 2^32 is unwrapped, and any other decrease counts from zero.
//
// Memory is bounded whatever the host prints: lines longer than
// Limits.MaxLine and samples longer than Limits.MaxLines are refused with
// an error, and at most Limits.MaxCores cores and Limits.MaxInterfaces
// network interfaces are kept.
//
// The package reads text only: it imports no SSH and knows nothing of the
// console.
package procstat
