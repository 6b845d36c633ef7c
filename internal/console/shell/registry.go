package shell

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Defaults for Options.
const (
	DefaultGrace        = 5 * time.Minute
	DefaultHangupWait   = 5 * time.Second
	DefaultScrollback   = 256 << 10
	DefaultHighWater    = 512 << 10
	DefaultLowWater     = 128 << 10
	DefaultWatcherLimit = 4 << 20
	DefaultMaxSessions  = 64
	DefaultMaxBroadcast = 16
	DefaultReadSize     = 32 << 10
	DefaultControlRate  = 50 // control messages a second, per socket
	DefaultCols         = 80
	DefaultRows         = 24
	MaxCols, MaxRows    = 1000, 500
)

// Options configure a Registry. The zero value of each field means its
// default.
type Options struct {
	// Node names this node: session ids start with it.
	Node string
	// Grace is how long a session with no page attached runs on before
	// it is hung up.
	Grace time.Duration
	// HangupWait is how long a local shell that was hung up (SIGHUP) may
	// take to exit before it is killed (SIGKILL).
	HangupWait time.Duration
	// Scrollback is how many of the newest output bytes a session keeps
	// for a page that attaches.
	Scrollback int
	// HighWater and LowWater pace the output: when an owner's page has
	// HighWater bytes sent and not yet drawn (acked), the session stops
	// reading its terminal until every owner's page is below LowWater.
	HighWater, LowWater int64
	// WatcherLimit is how far a read-only watcher may fall behind before
	// it is detached (watchers never hold the output back).
	WatcherLimit int64
	// MaxSessions caps this node's running sessions.
	MaxSessions int
	// MaxBroadcast caps the hosts of one broadcast open.
	MaxBroadcast int
	// ReadSize is the buffer of one read from a terminal.
	ReadSize int
	// ControlRate is how many control (text) messages a second one
	// socket may send on average, with bursts of twice that; one over
	// it is answered with an error and dropped. Terminal input (binary)
	// is not counted: it is bounded by the message size and by the
	// terminal taking it.
	ControlRate float64
	// SSH holds the SSH settings (user, port, keys, known_hosts, ssh
	// config, timeouts), as Exec's jobs use them; Policy is the ceiling
	// (--allow-hosts), checked again for every address dialled.
	SSH batch.Config
	// Roles returns the policy in force; nil, or a nil result, means
	// policy.Default with SSH.Policy as its ceiling.
	Roles func() *policy.Policy
	// LocalShell is the shell of a local terminal: "" means $SHELL, else
	// /bin/sh.
	LocalShell string
	// Audit, if set, receives the sessions' start and end records.
	Audit Auditor
	// Record, if set, starts a recording for each session.
	Record record.Factory
	// Logger logs sessions; nil means slog.Default.
	Logger *slog.Logger
}

// Auditor writes audit records (*audit.Log is one).
type Auditor interface {
	Write(ctx context.Context, rec audit.Record) (uint64, error)
}

// Registry holds this node's running sessions. Its methods may be called
// from any goroutine.
type Registry struct {
	opts         Options
	defaultRoles *policy.Policy
	log          *slog.Logger

	mu       sync.Mutex
	sessions map[string]*Session // guarded by mu
	shutdown bool                // guarded by mu
	wg       sync.WaitGroup
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	o := opts
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.HangupWait <= 0 {
		o.HangupWait = DefaultHangupWait
	}
	if o.Scrollback <= 0 {
		o.Scrollback = DefaultScrollback
	}
	if o.HighWater <= 0 {
		o.HighWater = DefaultHighWater
	}
	if o.LowWater <= 0 || o.LowWater >= o.HighWater {
		o.LowWater = min(DefaultLowWater, o.HighWater/4)
	}
	if o.WatcherLimit <= 0 {
		o.WatcherLimit = DefaultWatcherLimit
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.MaxBroadcast <= 0 {
		o.MaxBroadcast = DefaultMaxBroadcast
	}
	if o.ReadSize <= 0 {
		o.ReadSize = DefaultReadSize
	}
	if o.ControlRate <= 0 {
		o.ControlRate = DefaultControlRate
	}
	if o.LocalShell == "" {
		if o.LocalShell = os.Getenv("SHELL"); o.LocalShell == "" {
			o.LocalShell = "/bin/sh"
		}
	}
	if o.SSH.Policy == nil {
		o.SSH.Policy = batch.DefaultPolicy()
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Registry{
		opts:         o,
		defaultRoles: policy.Default(&policy.Options{Ceiling: o.SSH.Policy}),
		log:          log,
		sessions:     map[string]*Session{},
	}
}

// roles returns the policy in force.
func (r *Registry) roles() *policy.Policy {
	if r.opts.Roles != nil {
		if p := r.opts.Roles(); p != nil {
			return p
		}
	}
	return r.defaultRoles
}

// Start is what opening a session needs.
type Start struct {
	Host       hostexpr.Host // checked by the caller against the policy
	Cols, Rows int
	Owner      Owner
	Role       string
	// For the audit record.
	Client, RemoteAddr, UserAgent string
}

// Open starts a session on st.Host (hostexpr.LocalName for this
// machine). The caller has checked that the owner may reach it. ctx bounds
// the connect only.
func (r *Registry) Open(ctx context.Context, st Start) (*Session, error) {
	st.Cols, st.Rows = clampSize(st.Cols, st.Rows)
	r.mu.Lock()
	if r.shutdown {
		r.mu.Unlock()
		return nil, errors.New("the console is shutting down")
	}
	if len(r.sessions) >= r.opts.MaxSessions {
		r.mu.Unlock()
		return nil, fmt.Errorf("this node runs %d terminals already (--shell-max-sessions)", r.opts.MaxSessions)
	}
	r.wg.Add(1) // held until the session ends, or fails to start
	r.mu.Unlock()

	var term terminal
	var err error
	if st.Host.IsLocal() {
		term, err = openLocal(r.opts.LocalShell, st.Cols, st.Rows, r.opts.HangupWait)
	} else {
		term, err = openSSH(ctx, r.opts.SSH, st.Host, st.Cols, st.Rows)
	}
	if err != nil {
		r.wg.Done()
		return nil, err
	}
	now := time.Now()
	s := &Session{
		Meta: record.SessionMeta{
			ID: r.newID(), User: st.Owner.User, Role: st.Role, Host: st.Host.String(), Node: r.opts.Node,
			Start: now, Cols: st.Cols, Rows: st.Rows, Term: Term,
		},
		Owner: st.Owner,
		reg:   r,
		term:  term,
		ring:  newRing(r.opts.Scrollback),
		atts:  map[*attachment]bool{},
		cols:  st.Cols,
		rows:  st.Rows,
		share: ShareNone,
		done:  make(chan struct{}),
	}
	s.cond = sync.NewCond(&s.mu)
	if r.opts.Record != nil {
		rec, err := r.opts.Record(s.Meta)
		if err != nil {
			r.log.Warn("shell: recording not started", "session", s.Meta.ID, "err", err)
		} else {
			s.rec = rec
		}
	}
	r.mu.Lock()
	r.sessions[s.Meta.ID] = s
	r.mu.Unlock()
	r.audit(audit.Record{
		Time: now, Event: audit.EventShellStart, Job: s.Meta.ID, Client: st.Client, Expression: s.Meta.Host,
		Hosts: 1, Node: r.opts.Node, RemoteAddr: st.RemoteAddr, UserAgent: st.UserAgent,
		User: st.Owner.User, Method: st.Owner.Method, Role: st.Role,
	})
	r.log.Info("shell: session started", "session", s.Meta.ID, "host", s.Meta.Host, "user", st.Owner.User)
	s.mu.Lock()
	s.armGraceLocked() // until a page attaches
	s.mu.Unlock()
	go s.read()
	return s, nil
}

// forget takes the session with id out of the registry.
func (r *Registry) forget(id string) {
	r.mu.Lock()
	delete(r.sessions, id)
	r.mu.Unlock()
}

// ended takes a session out, if it is still in, and audits its end.
func (r *Registry) ended(s *Session, end time.Time, reason, recording string) {
	r.forget(s.Meta.ID)
	r.audit(audit.Record{
		Time: end, Event: audit.EventShellEnd, Job: s.Meta.ID, Client: "web", Expression: s.Meta.Host, Hosts: 1,
		Node: r.opts.Node, State: reason, ElapsedMS: end.Sub(s.Meta.Start).Milliseconds(),
		User: s.Owner.User, Method: s.Owner.Method, Role: s.Meta.Role, Recording: recording,
	})
	r.log.Info("shell: session ended", "session", s.Meta.ID, "host", s.Meta.Host, "why", reason,
		"duration", end.Sub(s.Meta.Start).Round(time.Millisecond))
	r.wg.Done()
}

func (r *Registry) audit(rec audit.Record) {
	if r.opts.Audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.opts.Audit.Write(ctx, rec); err != nil {
		r.log.Error("shell: audit record not written", "event", rec.Event, "session", rec.Job, "err", err)
	}
}

// newID returns a new session id: the node's name, a dot, 16 random hex
// digits. The node in it says where the session runs.
func (r *Registry) newID() string {
	var b [8]byte
	rand.Read(b[:])
	return r.opts.Node + "." + hex.EncodeToString(b[:])
}

// NodeOf returns the node a session id names.
func NodeOf(id string) string {
	node, _, _ := strings.Cut(id, ".")
	return node
}

// Get returns a running session.
func (r *Registry) Get(id string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

// List returns the running sessions, oldest first.
func (r *Registry) List() []*Session {
	r.mu.Lock()
	out := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, s)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b *Session) int { return a.Meta.Start.Compare(b.Meta.Start) })
	return out
}

// Shutdown hangs up every session and waits, within ctx, for them to end
// (their ends audited and their recordings closed).
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.shutdown = true
	r.mu.Unlock()
	for _, s := range r.List() {
		s.Close("the console shut down")
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shell: sessions still ending: %w", ctx.Err())
	}
}

func clampSize(cols, rows int) (int, int) {
	if cols <= 0 {
		cols = DefaultCols
	}
	if rows <= 0 {
		rows = DefaultRows
	}
	return min(cols, MaxCols), min(rows, MaxRows)
}
