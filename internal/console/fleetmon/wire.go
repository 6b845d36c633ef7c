package fleetmon

import (
	"encoding/hex"
	"encoding/json"

	"github.com/wsdeck/wsdeck/internal/fleet/procstat"
)

// Names in the engine. The two buckets of leases are held in memory
// (engine.BucketConfig.Memory); before, they were files named fleet-watch
// and fleet-owner, which a console of today leaves alone (their keys have
// lapsed).
const (
	streamName   = "fleet"
	demandBucket = "fleet-demand"
	ownerBucket  = "fleet-owners"
)

// leaseBytes bounds each bucket of leases: a key is about 150 bytes in
// the engine, so about 100,000 keys (a demand key per host and node).
const leaseBytes = 16 << 20

// token names a host (hostexpr.Host.String(): user@name:port as written)
// in subjects and keys: its hex, which has no dot or wildcard.
func token(host string) string { return hex.EncodeToString([]byte(host)) }

func hostOf(tok string) string {
	b, err := hex.DecodeString(tok)
	if err != nil {
		return ""
	}
	return string(b)
}

func subject(tok string) string         { return "fleet.h." + tok }
func demandKey(tok, node string) string { return tok + "." + node }
func tokenOfSubject(subj string) string { return subj[len("fleet.h."):] }

// States of a host, as records and frames give them.
const (
	StateUp          = "up"          // sampled, the last sample fresh
	StateStale       = "stale"       // the last sample older than Options.Stale
	StateDown        = "down"        // older than Options.Down, or connecting fails
	StateUnsupported = "unsupported" // its output is not what procstat knows
	StatePending     = "pending"     // no record yet
)

// Record is what the owner of a host publishes on its subject: a sample's
// figures, or why there are none.
type Record struct {
	Host  string            `json:"host"`
	Time  int64             `json:"t"`     // Unix milliseconds, the console's clock
	State string            `json:"state"` // StateUp, StateDown or StateUnsupported
	Why   string            `json:"why,omitempty"`
	Err   string            `json:"err,omitempty"` // for down and unsupported: what failed
	Fig   *procstat.Figures `json:"fig,omitempty"`
}

// Hello is the first message of a connection: the limits and times in
// force.
type Hello struct {
	Type     string `json:"type"` // "hello"
	MaxHosts int    `json:"max_hosts"`
	Period   int64  `json:"interval_ms"`
	Stale    int64  `json:"stale_ms"`
	Down     int64  `json:"down_ms"`
}

// Hosts answers a page's watch: the hosts, in the order of every frame's
// figures, and the expression they fold to.
type Hosts struct {
	Type   string   `json:"type"` // "hosts"
	Expr   string   `json:"expr"`
	Hosts  []string `json:"hosts"`
	Stale  int64    `json:"stale_ms"`
	Down   int64    `json:"down_ms"`
	Period int64    `json:"interval_ms"`
}

// Tick is the frame a page gets each Interval: per host, in Hosts'
// order, [state, cpu %, memory %, load1, rx bytes/s, tx bytes/s, disk %]
// with -1 for a figure not known; and the full record of the host whose
// detail the page shows.
type Tick struct {
	Type   string       `json:"type"` // "tick"
	Time   int64        `json:"t"`
	Counts [3]int       `json:"counts"` // up, stale, down (unsupported and pending count as down)
	Cells  [][7]float64 `json:"cells"`
	Detail *Record      `json:"detail,omitempty"`
}

// History answers a page's detail request: the host's records of the last
// History, oldest first.
type History struct {
	Type    string            `json:"type"` // "history"
	Host    string            `json:"host"`
	Records []json.RawMessage `json:"records"`
}

// stateCode is a state's number in a Tick's cells.
func stateCode(s string) float64 {
	switch s {
	case StateUp:
		return 0
	case StateStale:
		return 1
	case StateDown:
		return 2
	case StateUnsupported:
		return 3
	}
	return 4 // pending
}
