// Package record is the hook between a terminal session (package shell) and whatever records
// it (asciicast v2 in the engine's object store, say). It holds only the interface and the
// session's description, so that the shell and the recorder depend on it and not on each other.
package record

import "time"

// SessionMeta describes one terminal session when it starts.
type SessionMeta struct {
	ID    string    // the session's id (unique across nodes)
	User  string    // who opened it ("" in token mode is "admin")
	Role  string    // the role it was opened with (viewer, operator, admin)
	Host  string    // the host it runs on ("local" for a PTY on the console's machine)
	Node  string    // the console node that runs it
	Start time.Time // when it started
	Cols  int       // the terminal's first size
	Rows  int
	Term  string // the TERM it was given (xterm-256color)
	Shell string // the command run, "" for the login shell
}

// Recorder receives one session's stream. The session calls its methods from one goroutine at
// a time, in time order; p is valid only during the call (copy it to keep it). Output is what
// the terminal wrote, Input what any attached page typed (the recorder decides whether to keep
// it), Resize a new size. Close is called once, when the session ends; no call follows it.
// A Recorder must not block for long: the session's output waits for it.
type Recorder interface {
	Output(t time.Time, p []byte)
	Input(t time.Time, p []byte)
	Resize(t time.Time, cols, rows int)
	Close(end time.Time)
}

// IDer is implemented by a Recorder that knows the id its recording is stored under; the
// session's audit record names it.
type IDer interface {
	RecordingID() string
}

// Factory starts a recording for a session that is starting. An error leaves the session
// unrecorded (it is logged); nil Factory means no recording.
type Factory func(meta SessionMeta) (Recorder, error)
