package main

import (
	"flag"

	"github.com/wsdeck/wsdeck/internal/console/recording"
)

// recordingFlags defines the recordings' settings (package recording) on
// fs, into o: what is recorded, a recording's cap, and retention.
func recordingFlags(fs *flag.FlagSet, o *recording.Options) {
	fs.BoolVar(&o.Input, "shell-record-input", false, "Shell: record what pages type too (\"i\" events), not only the terminal's output; input may hold passwords typed without echo")
	fs.Int64Var(&o.MaxBytes, "recording-max-bytes", recording.DefaultMaxBytes, "Shell: bytes of one session's recording; beyond it the recording stops (marked truncated)")
	fs.IntVar(&o.Keep, "recording-keep", recording.DefaultKeep, "Shell: recordings kept (the oldest go first)")
	fs.Int64Var(&o.KeepBytes, "recording-keep-bytes", recording.DefaultKeepBytes, "Shell: bytes of recordings kept in all (the oldest go first)")
	fs.DurationVar(&o.KeepAge, "recording-keep-age", recording.DefaultKeepAge, "Shell: how long a recording is kept")
	fs.DurationVar(&o.Heartbeat, "recording-heartbeat", recording.DefaultHeartbeat, "Shell: how often a node marks its recordings in progress alive; another node marks one interrupted after three missed (so within four)")
	fs.DurationVar(&o.Flush, "recording-flush", recording.DefaultFlush, "Shell: how often a recording in progress is stored (what a node that dies loses at most)")
}
