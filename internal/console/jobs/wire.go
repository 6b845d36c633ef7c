package jobs

import (
	"encoding/json"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// The messages of /ws/exec (docs/protocol.md has them all).

// Client to server.

type countRequest struct {
	ID    string `json:"id"`
	Hosts string `json:"hosts"`
}

type runRequest struct {
	ID      string `json:"id"`
	Hosts   string `json:"hosts"`
	Command string `json:"command"`
}

type cancelRequest struct {
	ID  string `json:"id"`
	Job string `json:"job"` // "" means the job the viewer has open
}

type openRequest struct {
	ID  string `json:"id"`
	Job string `json:"job"`
}

type listRequest struct {
	ID string `json:"id"`
	Filter
}

// Server to client.

// helloMessage is the first message on every connection: what this
// server allows.
type helloMessage struct {
	Type       string `json:"type"` // "hello"
	AllowHosts string `json:"allow_hosts"`
	MaxHosts   int    `json:"max_hosts"`
	MaxCommand int    `json:"max_command"`
	Fanout     int    `json:"fanout"`
	MaxOutput  int64  `json:"max_output"`
	// The caps of running jobs, this node's name, and the newest jobs.
	MaxJobs       int      `json:"max_jobs"`
	MaxClientJobs int      `json:"max_client_jobs"`
	Node          string   `json:"node"`
	Jobs          []Record `json:"jobs"`
	// Who the viewer is and what they may do, as the policy in force
	// when it connected says: the page hides what they may not do (the
	// server refuses it anyway, for every message). Role is viewer,
	// operator, admin or none; Groups are the host groups they may name
	// as @NAME.
	User   string   `json:"user"`
	Method string   `json:"method,omitempty"`
	Role   string   `json:"role"`
	MayRun bool     `json:"may_run"`
	Groups []string `json:"groups"`
}

// accessMessage tells a socket, after a policy reload, what its user may
// do now: the fields of the hello that say so.
type accessMessage struct {
	Type   string   `json:"type"` // "access"
	User   string   `json:"user"`
	Method string   `json:"method,omitempty"`
	Role   string   `json:"role"`
	MayRun bool     `json:"may_run"`
	Groups []string `json:"groups"`
}

// listMessage answers a list request: the jobs of the history it selects,
// newest first, without their hosts.
type listMessage struct {
	Type string   `json:"type"` // "list"
	ID   string   `json:"id,omitempty"`
	Jobs []Record `json:"jobs"`
}

// stateMessage tells every viewer that a job started or ended (the record
// without its hosts).
type stateMessage struct {
	Type string  `json:"type"` // "state"
	Job  *Record `json:"job"`
}

// countMessage answers a count request: the expression expanded, without
// running anything.
type countMessage struct {
	Type   string `json:"type"` // "count"
	ID     string `json:"id,omitempty"`
	Hosts  string `json:"hosts"`            // the expression, as asked
	Count  int    `json:"count"`            // hosts it names, duplicates and exclusions removed
	Folded string `json:"folded,omitempty"` // the hosts, folded back (127.0.0.[1-100])
	Denied string `json:"denied,omitempty"` // the hosts --allow-hosts refuses, folded
	Error  string `json:"error,omitempty"`  // why the expression is not valid
	At     *int   `json:"at,omitempty"`     // byte offset of the bad part
	Len    int    `json:"len,omitempty"`    // its length
}

// acceptedMessage tells the client that asked for a job that it started.
type acceptedMessage struct {
	Type string `json:"type"` // "accepted"
	ID   string `json:"id,omitempty"`
	Job  string `json:"job"`
}

// jobMessage is the first message of a job a viewer opens: its record
// (replay true; an events message with what happened so far follows).
type jobMessage struct {
	Type   string `json:"type"` // "job"
	Job    Record `json:"job"`
	Replay bool   `json:"replay,omitempty"`
}

// eventsMessage carries a job's events in order, batched.
type eventsMessage struct {
	Type   string            `json:"type"` // "events"
	Job    string            `json:"job"`
	Events []json.RawMessage `json:"events"`
	// Skipped counts output lines left out before these events: a replay
	// keeps only the last of them.
	Skipped int `json:"skipped,omitempty"`
}

// The events, each with an "e" field.

type startedEvent struct {
	E     string `json:"e"` // "started"
	Index int    `json:"i"`
}

type outputEvent struct {
	E      string       `json:"e"` // "out"
	Index  int          `json:"i"`
	Stream batch.Stream `json:"s"`
	Lines  []string     `json:"lines"`
}

type cappedEvent struct {
	E      string       `json:"e"` // "capped"
	Index  int          `json:"i"`
	Stream batch.Stream `json:"s"`
}

type finishedEvent struct {
	E      string        `json:"e"` // "finished"
	Index  int           `json:"i"`
	Result *batch.Result `json:"result"`
}

type warningEvent struct {
	E       string `json:"e"` // "warning"
	Message string `json:"message"`
}

// mutedEvent says the job's output went over the terminal cap: lines after
// it are not sent (the results still are).
type mutedEvent struct {
	E     string `json:"e"` // "muted"
	Limit int64  `json:"limit"`
}

type summaryEvent struct {
	E       string         `json:"e"` // "summary"
	Summary *batch.Summary `json:"summary"`
	Text    string         `json:"text"`            // the summary as wsdeck exec prints it
	State   string         `json:"state,omitempty"` // interrupted, when another node ended it
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own types always encode
	}
	return b
}
