package monitor

import (
	"encoding/json"
	"time"
)

// CodeUnavailable is the error code sent when the engine, which keeps the
// samples, cannot be reached: the page shows it and comes back later.
const CodeUnavailable = "unavailable"

// Sample is a machine's state at one time, as stored and sent on the wire.
type Sample struct {
	Time         int64      `json:"t"`     // Unix milliseconds
	CPU          float64    `json:"cpu"`   // percent busy, all cores together
	Cores        []float64  `json:"cores"` // percent busy, per core
	MemUsed      uint64     `json:"mem_used"`
	MemAvailable uint64     `json:"mem_available"`
	MemTotal     uint64     `json:"mem_total"`
	Load         [3]float64 `json:"load"`   // 1, 5 and 15 minute load averages
	NetRx        float64    `json:"net_rx"` // bytes a second received, loopback excluded
	NetTx        float64    `json:"net_tx"` // bytes a second sent, loopback excluded
	DiskUsed     uint64     `json:"disk_used"`
	DiskTotal    uint64     `json:"disk_total"`
	// Gap marks the first sample of a sampling run: the one before it,
	// if any, was taken before a pause (nobody watched) or a restart, and
	// a chart should not draw a line from it.
	Gap bool `json:"gap,omitempty"`
}

// NodeInfo is a node as the node list has it, and its value in the
// monitor-nodes bucket.
type NodeInfo struct {
	Name       string    `json:"name"`
	IntervalMS int64     `json:"interval_ms"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
}

// Backfill is the first message a viewer gets: the shown node's samples
// of the last History, and the console's nodes.
type Backfill struct {
	Type       string            `json:"type"` // "backfill"
	Node       string            `json:"node"` // the node shown
	Self       string            `json:"self"` // the node serving the socket
	Nodes      []NodeInfo        `json:"nodes"`
	IntervalMS int64             `json:"interval_ms"`
	HistoryMS  int64             `json:"history_ms"`
	Samples    []json.RawMessage `json:"samples"` // oldest first
}

// Nodes is sent when a node joins the console or leaves it.
type Nodes struct {
	Type  string     `json:"type"` // "nodes"
	Nodes []NodeInfo `json:"nodes"`
}

// sampleMessage is a live sample.
type sampleMessage struct {
	Type   string          `json:"type"` // "sample"
	Sample json.RawMessage `json:"sample"`
}
