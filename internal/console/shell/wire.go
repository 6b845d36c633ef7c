package shell

import "time"

// The /ws/shell protocol (docs/protocol.md). Text frames carry JSON
// control messages with a "type"; binary frames carry terminal data, both
// ways, behind one byte naming the channel: the session attached on that
// channel of this socket. A page's binary frame on channel 0 goes to every
// channel of its broadcast set.

// inMsg is any control message from a page; each type reads its fields.
type inMsg struct {
	Type    string `json:"type"`
	ID      string `json:"id"`      // echoed in the reply, and in an error
	Host    string `json:"host"`    // open: a host expression, or "local"
	Many    bool   `json:"many"`    // open: the expression may name several hosts (a broadcast grid)
	Session string `json:"session"` // attach
	Ch      byte   `json:"ch"`      // resize, ack, detach, close, share
	Chs     []byte `json:"chs"`     // broadcast: the channels typed into by channel 0
	Cols    int    `json:"cols"`    // open, attach, resize
	Rows    int    `json:"rows"`
	Bytes   int64  `json:"bytes"` // ack: bytes drawn
	Share   Share  `json:"share"` // share: none, watch or type
}

// sessionInfo describes an attached or listed session.
type sessionInfo struct {
	Ch       byte      `json:"ch,omitempty"` // attached: its channel
	Session  string    `json:"session"`
	Host     string    `json:"host"`
	User     string    `json:"user"`
	Node     string    `json:"node"`
	Start    time.Time `json:"start"`
	Cols     int       `json:"cols"`
	Rows     int       `json:"rows"`
	Owner    bool      `json:"owner"`    // the page's user owns it
	Write    bool      `json:"write"`    // the page may type (owner, or shared to type)
	Share    Share     `json:"share"`    // who else may attach
	Attached int       `json:"attached"` // pages attached, on this node
	// Replay is the length of the scrollback sent next on the channel
	// (attached only): a page draws it without answering the terminal
	// queries it holds, which were answered when they were live.
	Replay int `json:"replay,omitempty"`
}

// attachedMsg comes before any output of the session on its channel.
type attachedMsg struct {
	Type    string      `json:"type"` // "attached"
	ID      string      `json:"id,omitempty"`
	Session sessionInfo `json:"session"`
}

// openedMsg ends an open: every session it attached (each announced by
// an attached message already), and the hosts that failed.
type openedMsg struct {
	Type     string        `json:"type"` // "opened"
	ID       string        `json:"id,omitempty"`
	Sessions []sessionInfo `json:"sessions"`
	Errors   []hostError   `json:"errors,omitempty"` // open: hosts that failed
}

type hostError struct {
	Host  string `json:"host"`
	Error string `json:"error"`
}

type listMsg struct {
	Type     string        `json:"type"` // "sessions"
	ID       string        `json:"id,omitempty"`
	Node     string        `json:"node"`
	Sessions []sessionInfo `json:"sessions"`
}

type endedMsg struct {
	Type    string `json:"type"` // "ended" or "detached"
	Ch      byte   `json:"ch"`
	Session string `json:"session"`
	Reason  string `json:"reason"`
}

type sizeMsg struct {
	Type string `json:"type"` // "size"
	Ch   byte   `json:"ch"`
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
}

type okMsg struct {
	Type string `json:"type"` // "ok"
	ID   string `json:"id,omitempty"`
	For  string `json:"for"`
}

type errorMsg struct {
	Type  string `json:"type"` // "error"
	Code  string `json:"code"`
	Error string `json:"error"`
	ID    string `json:"id,omitempty"`
	For   string `json:"for,omitempty"`
}
