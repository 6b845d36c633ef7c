package audit

import (
	"time"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// Events of a Record.
const (
	EventStart = "start" // before any host runs
	EventEnd   = "end"   // once every host has stopped, or the job was found interrupted

	// Identity events (no job): Client, RemoteAddr and UserAgent say
	// where from, User and Method who and how, Reason why, when refused.
	EventLogin       = "login"        // a session started
	EventLoginFailed = "login_failed" // a login refused (wrong user or password, a second factor, backoff)
	EventLogout      = "logout"       // a session ended by its owner
	EventRevoke      = "revoke"       // a session ended by an admin, or by a user's removal or change of role
	EventPolicy      = "policy"       // the policy file loaded or changed

	// Terminal events (the Shell tab): Job is the session's id,
	// Expression its host ("local" for the console's machine), Node the
	// node that runs it; the end adds ElapsedMS, State (how it ended) and
	// Recording.
	EventShellStart = "shell_start" // a terminal session opened
	EventShellEnd   = "shell_end"   // a terminal session ended
)

// Record is one entry of the audit log. A job writes two: "start" before
// any host runs (so a crash mid-job still leaves a trace of what was run
// where) and "end" with every host's outcome.
//
// In the stream, Seq is the stream's sequence (set when the record is
// read; records are published without it) and Prev is empty. In an
// export file, Seq and Prev chain the records: Seq counts them (1, 2,
// ...) and Prev is the SHA-256, in hex, of the line before (its bytes
// without the newline; "" for the first line of a file). File.Write sets
// both. An edited line no longer matches the next line's Prev, and a
// removed one leaves a gap in Seq: VerifyFile reports both.
type Record struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Event      string    `json:"event"`         // EventStart or EventEnd
	Job        string    `json:"job,omitempty"` // an id joining a job's two records
	Client     string    `json:"client"`        // who asked, in a word: "web 127.0.0.1:50312"
	Expression string    `json:"expression"`    // the host expression as typed
	Hosts      int       `json:"hosts"`         // how many targets it named
	Command    string    `json:"command"`
	Node       string    `json:"node,omitempty"`    // the console node that runs the job
	State      string    `json:"state,omitempty"`   // "end": done, cancelled, failed or interrupted
	Results    []Host    `json:"results,omitempty"` // "end": one per host that finished
	OK         int       `json:"ok"`
	Failed     int       `json:"failed"`
	ElapsedMS  int64     `json:"elapsed_ms,omitempty"`
	Canceled   bool      `json:"canceled,omitempty"`

	// What is known of the client that asked: the address its connection
	// came from (X-Forwarded-For is not trusted: anyone can send it), its
	// User-Agent, and its login session's short key (a prefix of the
	// hash of the session id: it names the session, it opens nothing).
	RemoteAddr string `json:"remote_addr,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	Session    string `json:"session,omitempty"`

	// Who, as the console knows them: the user's name, how they logged
	// in (token, password, oidc) and the role the action was done with.
	User   string `json:"user,omitempty"`
	Method string `json:"method,omitempty"`
	Role   string `json:"role,omitempty"`
	// Reason says why, for refusals and revocations.
	Reason string `json:"reason,omitempty"`
	// Recording is the id of a terminal session's recording, if any.
	Recording string `json:"recording,omitempty"`

	Prev string `json:"prev,omitempty"`
}

// Host is one host's outcome in an "end" record.
type Host struct {
	Host     string       `json:"host"`
	Status   batch.Status `json:"status"`
	ExitCode int          `json:"exit_code"`
}

// EndRecord returns the "end" record for a finished job: the start
// record's fields with the results and summary added.
func EndRecord(start Record, results []*batch.Result, sum *batch.Summary) Record {
	r := start
	r.Time = time.Now().UTC()
	r.Event = EventEnd
	r.Results = make([]Host, 0, len(results))
	for _, res := range results {
		if res != nil {
			r.Results = append(r.Results, Host{Host: res.Host, Status: res.Status, ExitCode: res.ExitCode})
		}
	}
	if sum != nil {
		r.OK, r.Failed, r.Canceled = sum.OK, sum.Failed, sum.Canceled
		r.ElapsedMS = sum.Elapsed.Milliseconds()
	}
	return r
}
