package fleetmon

import (
	"context"
	"log/slog"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
	"github.com/wsdeck/wsdeck/internal/fleet/procstat"
)

// Defaults for the zero values of Options.
const (
	DefaultInterval = time.Second
	DefaultHistory  = 10 * time.Minute
	DefaultStale    = 3 * time.Second
	DefaultDown     = 15 * time.Second
	DefaultLinger   = 10 * time.Second
	DefaultBeat     = 5 * time.Second
	DefaultRetryMin = time.Second
	DefaultRetryMax = 30 * time.Second
	DefaultMaxHosts = 4096
	DefaultFanout   = batch.DefaultFanout
	// DefaultHistoryBytes bounds the stream: 1,000 hosts of 10 minutes of
	// records of about 300 bytes.
	DefaultHistoryBytes = 256 << 20
)

// Options configure a Fleet. The zero value of a field means its default.
type Options struct {
	// Node names this node, as the Monitor's (monitor.CheckNode). Required.
	Node string
	// Interval is the time between samples of a host, in whole seconds.
	Interval time.Duration
	// History is how long a host's records are kept: its detail's backfill.
	History time.Duration
	// HistoryBytes bounds the stream, all hosts together.
	HistoryBytes int64
	// Stale and Down: a host whose last sample is older is shown stale,
	// then down (and its session, if still open, is cut and dialled
	// again).
	Stale, Down time.Duration
	// Linger is how long a host is still sampled after its last viewer
	// left, so a page reloaded does not start a new session.
	Linger time.Duration
	// Beat is how often demand and ownership keys are rewritten; they
	// lapse after three Beats.
	Beat time.Duration
	// RetryMin and RetryMax bound the backoff between connection
	// attempts to a host; each wait has up to half of it added at random.
	RetryMin, RetryMax time.Duration
	// Fanout is the most hosts connecting at once (--exec-fanout).
	Fanout int
	// MaxHosts is the most hosts one page may watch.
	MaxHosts int
	// Limits bound what is read of a host's output.
	Limits procstat.Limits

	// SSH is how hosts are reached (the Exec flags: user, port, keys,
	// known_hosts, the --allow-hosts Policy); its Targets and Command are
	// not used.
	SSH batch.Config
	// Dial, if set, replaces dialling with SSH through one shared
	// batch.Dialer (tests). The caller of Dial takes the connection's
	// requests and channel opens.
	Dial func(ctx context.Context, h hostexpr.Host) (*batch.Conn, error)

	// Roles returns the policy in force, which decides who may watch
	// which hosts; nil, or a nil result, means policy.Default with the
	// SSH Policy as its ceiling.
	Roles func() *policy.Policy

	// Logger receives warnings; nil means slog.Default.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	o.Interval = max(o.Interval.Truncate(time.Second), time.Second)
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.HistoryBytes <= 0 {
		o.HistoryBytes = DefaultHistoryBytes
	}
	if o.Stale <= 0 {
		o.Stale = DefaultStale
	}
	if o.Down <= 0 {
		o.Down = DefaultDown
	}
	o.Down = max(o.Down, o.Stale)
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.Beat <= 0 {
		o.Beat = DefaultBeat
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.Fanout <= 0 {
		o.Fanout = DefaultFanout
	}
	if o.MaxHosts <= 0 {
		o.MaxHosts = DefaultMaxHosts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
