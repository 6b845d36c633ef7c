package main

import (
	"flag"

	"github.com/wsdeck/wsdeck/internal/console/fleetmon"
)

// fleetFlags defines the Fleet Monitor's settings (package fleetmon) on
// fs, into o. Its SSH settings, fan-out and ceiling are Exec's (--user,
// --identity, --known-hosts, --fanout, --allow-hosts, ...).
func fleetFlags(fs *flag.FlagSet, o *fleetmon.Options) {
	fs.DurationVar(&o.Interval, "fleet-interval", fleetmon.DefaultInterval, "Fleet: time between samples of a host (whole seconds)")
	fs.DurationVar(&o.History, "fleet-history", fleetmon.DefaultHistory, "Fleet: how far back a host's detail goes (its samples kept)")
	fs.Int64Var(&o.HistoryBytes, "fleet-history-bytes", fleetmon.DefaultHistoryBytes, "Fleet: bytes of samples kept, all hosts together (the oldest go first)")
	fs.DurationVar(&o.Stale, "fleet-stale", fleetmon.DefaultStale, "Fleet: a host whose last sample is older is shown stale")
	fs.DurationVar(&o.Down, "fleet-down", fleetmon.DefaultDown, "Fleet: a host whose last sample is older is shown down, and its session dialled again")
	fs.DurationVar(&o.Linger, "fleet-linger", fleetmon.DefaultLinger, "Fleet: how long a host is still sampled after its last viewer left")
	fs.DurationVar(&o.RetryMax, "fleet-retry-max", fleetmon.DefaultRetryMax, "Fleet: longest wait between attempts to reconnect to a host (backoff from 1s, with jitter)")
	fs.IntVar(&o.MaxHosts, "fleet-max-hosts", fleetmon.DefaultMaxHosts, "Fleet: most hosts one page may watch")
}
