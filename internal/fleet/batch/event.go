package batch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// EventType says what an Event reports.
type EventType uint8

const (
	// EventStarted: a host's turn came (a fan-out slot was free); it is
	// connecting, or starting the command for local.
	EventStarted EventType = iota + 1
	// EventOutput: whole lines of a host's stdout or stderr (Stream,
	// Data), or a piece of DefaultMaxLine bytes of a longer line, or the
	// last line, without a newline, when the command ends.
	EventOutput
	// EventCapped: the host's output was cut at the cap (Stream is where
	// the cut fell), after a whole line; what follows on either stream is
	// counted and dropped. Sent once per host, after its last EventOutput:
	// the place for a marker in the host's output.
	EventCapped
	// EventFinished: the host is done (Result). Every target gets exactly
	// one, started or not.
	EventFinished
	// EventWarning: a job-level notice (Message): a key file skipped, an
	// ssh config file ignored, a host key trusted on first use.
	EventWarning
	// EventSummary: the job is done (Summary). Always the last event.
	EventSummary
)

var eventTypeNames = [...]string{"", "started", "output", "capped", "finished", "warning", "summary"}

func (t EventType) String() string {
	if int(t) < len(eventTypeNames) && t != 0 {
		return eventTypeNames[t]
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText writes the type's name, for JSON.
func (t EventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Stream says which output stream a chunk came from.
type Stream uint8

const (
	Stdout Stream = iota + 1
	Stderr
)

func (s Stream) String() string {
	switch s {
	case Stdout:
		return "stdout"
	case Stderr:
		return "stderr"
	}
	return "Stream(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the stream's name, for JSON.
func (s Stream) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Event is one report of a running job. Which fields are set depends on
// Type; see EventType.
type Event struct {
	Type    EventType
	Time    time.Time
	Index   int      // the target's position in Config.Targets; -1 for job-level events
	Host    string   // the target as written (hostexpr.Host.String); "" for job-level events
	Stream  Stream   // EventOutput, EventCapped
	Data    []byte   // EventOutput: the chunk; the handler owns it and may keep it
	Message string   // EventWarning
	Result  *Result  // EventFinished
	Summary *Summary // EventSummary
}

// Status is how a host's run ended: the command's own end (StatusOK,
// StatusExit, StatusSignal) or the class of error that stopped it.
type Status uint8

const (
	StatusOK             Status = iota // the command exited 0
	StatusExit                         // the command exited non-zero (Result.ExitCode)
	StatusSignal                       // the command was killed by a signal it was not sent by us (Result.Signal)
	StatusRefused                      // connection refused
	StatusUnreachable                  // name not resolved, no route, network unreachable
	StatusTimeout                      // connect, handshake and authentication took longer than ConnectTimeout
	StatusAuthFailed                   // the server accepted none of our keys
	StatusHostKeyUnknown               // the host's key is not in known_hosts (and AcceptNew is off)
	StatusHostKeyChanged               // the host's key differs from the one known_hosts holds
	StatusHostKeyRevoked               // the host's key is marked @revoked
	StatusCommandTimeout               // the command outlived CommandTimeout and was stopped
	StatusCanceled                     // the job was cancelled before or while the host ran
	StatusDenied                       // the policy does not allow this target
	StatusError                        // anything else: protocol error, session refused, local start failed
)

var statusNames = [...]string{
	"ok", "exit", "signal", "refused", "unreachable", "timeout", "auth-failed",
	"hostkey-unknown", "hostkey-changed", "hostkey-revoked", "command-timeout",
	"canceled", "denied", "error",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText writes the status's name, for JSON.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status by its name, as in an audit log.
func (s *Status) UnmarshalText(b []byte) error {
	for i, name := range statusNames {
		if name == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("batch: unknown status %q", b)
}

// Result is how one host's run ended.
type Result struct {
	Index    int
	Host     string // the target as written
	Addr     string // the host:port dialled; "" for local and for hosts never dialled
	User     string // the remote user; "" for local
	Status   Status
	ExitCode int    // the command's exit status for StatusOK and StatusExit; else -1
	Signal   string // StatusSignal: the signal's name without SIG ("KILL")
	Err      error  // why the host failed; nil for StatusOK and StatusExit
	Start    time.Time
	Duration time.Duration
	Stdout   int64 // bytes the command wrote to stdout, including dropped ones
	Stderr   int64 // the same for stderr
	Dropped  int64 // bytes beyond the cap: counted, not delivered
}

// OK reports whether the command ran and exited 0.
func (r *Result) OK() bool { return r.Status == StatusOK }

// Message returns a one-line account of a failure: the error, "exit
// status 3", or "killed by signal KILL"; "" when r is OK.
func (r *Result) Message() string {
	switch {
	case r.Err != nil:
		return r.Err.Error()
	case r.Status == StatusExit:
		return "exit status " + strconv.Itoa(r.ExitCode)
	case r.Status == StatusSignal:
		return "killed by signal " + r.Signal
	case r.Status != StatusOK:
		return r.Status.String()
	}
	return ""
}

// resultJSON is Result's JSON form.
type resultJSON struct {
	Host       string    `json:"host"`
	Addr       string    `json:"addr,omitempty"`
	User       string    `json:"user,omitempty"`
	Status     Status    `json:"status"`
	ExitCode   int       `json:"exit_code"`
	Signal     string    `json:"signal,omitempty"`
	Error      string    `json:"error,omitempty"`
	Start      time.Time `json:"start"`
	DurationMS float64   `json:"duration_ms"`
	Stdout     int64     `json:"stdout_bytes"`
	Stderr     int64     `json:"stderr_bytes"`
	Dropped    int64     `json:"dropped_bytes"`
}

// MarshalJSON writes r with snake_case names, the status by name, the
// error as its message and the duration in milliseconds.
func (r *Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{
		Host: r.Host, Addr: r.Addr, User: r.User, Status: r.Status, ExitCode: r.ExitCode,
		Signal: r.Signal, Error: r.Message(), Start: r.Start,
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
		Stdout:     r.Stdout, Stderr: r.Stderr, Dropped: r.Dropped,
	})
}

// Summary is the outcome of a whole job.
type Summary struct {
	Total    int            `json:"total"`
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	ByStatus map[Status]int `json:"by_status"`
	// FailedHosts is the failed targets folded (hostexpr.Fold):
	// 127.0.0.[4,9,12].
	FailedHosts string        `json:"failed_hosts,omitempty"`
	Canceled    bool          `json:"canceled,omitempty"` // the job's context ended before every host finished
	Elapsed     time.Duration `json:"elapsed_ns"`
}

func (s *Summary) String() string {
	out := fmt.Sprintf("ok %d  failed %d", s.OK, s.Failed)
	if s.FailedHosts != "" {
		out += " (" + s.FailedHosts + ")"
	}
	out += "  elapsed " + roundDuration(s.Elapsed).String()
	if s.Canceled {
		out += "  (canceled)"
	}
	return out
}

// roundDuration rounds d for people: 2.1s, 340ms.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
