package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// AuditRecord is one line of the audit log. A job writes two: "start"
// before any host runs (so a crash mid-job still leaves a trace of what
// was run where) and "end" with every host's outcome.
type AuditRecord struct {
	Time       time.Time   `json:"time"`
	Event      string      `json:"event"`             // "start" or "end"
	Job        string      `json:"job,omitempty"`     // an id joining a job's two records
	Client     string      `json:"client"`            // who asked: remote address, user
	Expression string      `json:"expression"`        // the host expression as typed
	Hosts      int         `json:"hosts"`             // how many targets it named
	Command    string      `json:"command"`           //
	Results    []AuditHost `json:"results,omitempty"` // "end": one per host
	OK         int         `json:"ok"`
	Failed     int         `json:"failed"`
	ElapsedMS  int64       `json:"elapsed_ms,omitempty"`
	Canceled   bool        `json:"canceled,omitempty"`
}

// AuditHost is one host's outcome in an "end" record.
type AuditHost struct {
	Host     string `json:"host"`
	Status   Status `json:"status"`
	ExitCode int    `json:"exit_code"`
}

// EndRecord returns the "end" record for a finished job: the start record's
// fields with the results and summary added.
func EndRecord(start AuditRecord, results []*Result, sum *Summary) AuditRecord {
	r := start
	r.Time = time.Now().UTC()
	r.Event = "end"
	r.Results = make([]AuditHost, 0, len(results))
	for _, res := range results {
		if res != nil {
			r.Results = append(r.Results, AuditHost{Host: res.Host, Status: res.Status, ExitCode: res.ExitCode})
		}
	}
	if sum != nil {
		r.OK, r.Failed, r.Canceled = sum.OK, sum.Failed, sum.Canceled
		r.ElapsedMS = sum.Elapsed.Milliseconds()
	}
	return r
}

// AuditLog appends records to a file as JSON lines. Each record is one
// write(2) to a file opened O_APPEND, followed by fsync: once Write
// returns, the record survives a crash of the process or the machine, and
// records from several processes never interleave. A crash during a write
// can leave a partial last line, which readers should skip. Safe for
// concurrent use.
type AuditLog struct {
	mu sync.Mutex
	f  *os.File // guarded by mu; nil once closed
}

// OpenAuditLog opens (creating it, mode 0600) the log file for appending.
func OpenAuditLog(path string) (*AuditLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &AuditLog{f: f}, nil
}

// Write appends rec and syncs it to disk. A zero Time is set to now.
func (l *AuditLog) Write(rec AuditRecord) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("audit log: %w", os.ErrClosed)
	}
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Close closes the file. Writes after Close fail with os.ErrClosed.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// ReadAuditLog reads the records of the log at path, skipping a last line
// that a crash cut short (it is not valid JSON and has no newline).
func ReadAuditLog(path string) ([]AuditRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out []AuditRecord
	for len(b) > 0 {
		line, rest, complete := bytes.Cut(b, []byte("\n"))
		b = rest
		var r AuditRecord
		if err := json.Unmarshal(line, &r); err != nil {
			if !complete {
				break // a partial last line
			}
			return out, fmt.Errorf("audit log: record %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
