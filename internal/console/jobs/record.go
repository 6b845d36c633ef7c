package jobs

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/auth"
)

// States of a job.
const (
	StateRunning     = "running"
	StateDone        = "done"        // every host succeeded
	StateFailed      = "failed"      // a host failed, or the job could not run
	StateCancelled   = "cancelled"   // cancelled by a client, or by the console's shutdown
	StateInterrupted = "interrupted" // the node running it stopped heartbeating: how it ended is unknown
)

// Record is what the console keeps of a job in the jobs bucket, under its
// id: who asked, from where, when, what, and how it ended. The node
// running the job writes it when the job starts, rewrites it every
// heartbeat while it runs, and when it ends; any node may write
// CancelBy, and any node marks it interrupted when its heartbeats stop.
type Record struct {
	ID         string    `json:"id"`
	Expression string    `json:"expression"`
	Folded     string    `json:"folded"`
	Command    string    `json:"command"`
	Hosts      []string  `json:"hosts,omitempty"`  // the targets, in the order of the events' indexes
	Total      int       `json:"total"`            // len(Hosts)
	Client     string    `json:"client"`           // who asked, in a word: "web 127.0.0.1:50312"
	User       string    `json:"user"`             // what the per-client cap counts: the user's name in team mode; in token mode the session's short key, else the client's address
	Method     string    `json:"method,omitempty"` // how the user logged in: token, password, oidc
	Role       string    `json:"role,omitempty"`   // the role the job was started with
	RemoteAddr string    `json:"remote_addr,omitempty"`
	Node       string    `json:"node"` // the console node that runs it
	State      string    `json:"state"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended,omitzero"`
	OK         int       `json:"ok"`
	Failed     int       `json:"failed"`
	Summary    string    `json:"summary,omitempty"` // as wsdeck exec prints it
	CancelBy   string    `json:"cancel_by,omitempty"`
	Beat       time.Time `json:"beat,omitzero"` // the running node's last heartbeat (for people: nodes go by revisions)
}

func (r *Record) marshal() []byte { return mustJSON(r) }

func unmarshalRecord(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("job record: %w", err)
	}
	return &r, nil
}

// userOf is what the per-client cap counts for a client: in team mode
// (a password or single sign-on login) the user, whatever their sessions;
// in token mode, where everyone is the one admin, its login session, else
// the host of its address, else its name.
func userOf(c Client) string {
	if c.Identity.User != "" && c.Identity.Method != "" && c.Identity.Method != auth.MethodToken {
		return c.Identity.User
	}
	if c.Session != "" {
		return c.Session
	}
	if host, _, err := net.SplitHostPort(c.RemoteAddr); err == nil {
		return host
	}
	if c.RemoteAddr != "" {
		return c.RemoteAddr
	}
	return c.Name
}

// person is who started the job, as the audit records name them: the
// user in team mode; in token mode (where User is the session or the
// address the cap counts) the token's one admin.
func (r *Record) person() string {
	if r.Method == auth.MethodToken {
		return auth.TokenUser
	}
	return r.User
}

// Filter selects jobs from the history. Its zero value selects all.
type Filter struct {
	User  string `json:"user"`  // a substring of the user or the client
	State string `json:"state"` // one state, or "" for any
	Text  string `json:"text"`  // a substring of the command, the expression or the id
	// Before, if not zero, keeps jobs started before it (the next page).
	Before time.Time `json:"before,omitzero"`
	Limit  int       `json:"limit"` // 0 means DefaultListLimit; at most MaxListLimit
}

// Limits of a list.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

func (f Filter) match(r *Record) bool {
	switch {
	case f.State != "" && r.State != f.State:
		return false
	case f.User != "" && !strings.Contains(r.User, f.User) && !strings.Contains(r.Client, f.User):
		return false
	case !f.Before.IsZero() && !r.Started.Before(f.Before):
		return false
	case f.Text != "":
		t := strings.ToLower(f.Text)
		if !strings.Contains(strings.ToLower(r.Command), t) && !strings.Contains(strings.ToLower(r.Expression), t) &&
			!strings.HasPrefix(r.ID, t) {
			return false
		}
	}
	return true
}

// sortNewest sorts records newest first.
func sortNewest(recs []*Record) {
	slices.SortFunc(recs, func(a, b *Record) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}
