package jobs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Defaults for Options.
const (
	DefaultMaxCommand    = 8 << 10
	DefaultReplayBytes   = 1 << 20
	DefaultMaxTerminal   = 16 << 20
	DefaultMaxBatch      = 64 << 10
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultMaxJobs       = 8
	DefaultMaxClientJobs = 2
	DefaultMaxHistory    = 1000
	DefaultHistoryBytes  = 256 << 20
	DefaultHistoryAge    = 30 * 24 * time.Hour
	DefaultHeartbeat     = 5 * time.Second
)

// Error codes of refused requests, beside the socket package's.
const (
	CodeDenied = "denied" // not permitted: a target outside --allow-hosts or the user's host groups, a role that may not do it
	CodeBusy   = "busy"   // the console's or the client's cap of running jobs is reached
	CodeNoJob  = "no_job" // cancel or open of a job that is not there (or not running)
	CodeAudit  = "audit"  // the audit log could not be written: nothing ran
	CodeEngine = "engine" // the engine failed: nothing ran
)

// Options configure a Service. Engine is required; the zero value of the
// rest runs jobs with batch's defaults on loopback and local only, keeps
// the default history, and audits into Audit.
type Options struct {
	// Engine keeps the jobs' records and events. Required.
	Engine *engine.Engine
	// Audit receives a start and an end record per job, the start before
	// the job runs; nil means a log on Engine's AUDIT stream, opened by
	// New with AuditOptions.
	Audit        *audit.Log
	AuditOptions audit.Options
	// Node names this console node in the records; "" means the host
	// name and 4 random characters (two nodes on one host differ).
	Node string
	// Job holds the SSH settings of every job (user, port, keys,
	// known_hosts, timeouts, fan-out, output cap); its Targets, Command
	// and Policy are set per job.
	Job batch.Config
	// Policy is which targets a job may reach; nil means
	// batch.DefaultPolicy (loopback and local). It is the ceiling of the
	// roles' policy: no binding reaches beyond it.
	Policy *batch.Policy
	// Roles returns the team-mode policy in force (roles and host
	// groups), read for every message so that a reload applies at once;
	// nil (or a nil result) means policy.Default with Policy as its
	// ceiling: each user's own role, operators and admins reach every
	// host within Policy. Its ceiling should be Policy.
	Roles func() *policy.Policy
	// MaxHosts caps the hosts of one job. 0 means hostexpr.DefaultMaxHosts.
	MaxHosts int
	// MaxCommand is the longest command, in bytes. 0 means
	// DefaultMaxCommand.
	MaxCommand int
	// MaxJobs caps the jobs running at once across the console, and
	// MaxClientJobs those of one client. 0 means the defaults.
	MaxJobs, MaxClientJobs int
	// ReplayBytes is how much of a job's output a viewer who opens it
	// later gets. 0 means DefaultReplayBytes.
	ReplayBytes int
	// MaxTerminal is how many bytes of output lines a job publishes. 0
	// means DefaultMaxTerminal.
	MaxTerminal int64
	// MaxBatch and FlushInterval bound how long events wait to be
	// published: a batch goes out when it reaches MaxBatch bytes, or
	// after FlushInterval. 0 means the defaults.
	MaxBatch      int
	FlushInterval time.Duration
	// MaxHistory is how many jobs the history keeps, HistoryBytes how
	// many bytes of events and HistoryAge for how long. 0 means the
	// defaults.
	MaxHistory   int
	HistoryBytes int64
	HistoryAge   time.Duration
	// Heartbeat is how often a node rewrites its running jobs' records;
	// Lapse is how long without a new revision before another node marks
	// a running job interrupted. 0 means DefaultHeartbeat and three
	// heartbeats.
	Heartbeat, Lapse time.Duration
	// Logger receives a line per job; nil means slog.Default.
	Logger *slog.Logger
}

// Service runs jobs and serves /ws/exec. Its methods are safe for
// concurrent use.
type Service struct {
	opts       Options
	eng        *engine.Engine
	stream     *engine.Stream
	bucket     *engine.Bucket
	slots      *engine.Bucket // the running jobs, for the caps (slots.go)
	watcher    *engine.Watcher
	states     *topic.Topic // every job's state announcements
	auditTopic *topic.Topic // the audit log, for wsdeck audit -f through the console
	now        func() time.Time
	// defaultRoles is the policy without Options.Roles.
	defaultRoles *policy.Policy

	base context.Context // parent of every job and of the heartbeat; cancelled by Shutdown
	stop context.CancelFunc
	wg   sync.WaitGroup // the heartbeat loop

	mu     sync.Mutex
	index  map[string]*indexed  // guarded by mu: the records of the bucket
	local  map[string]*job      // guarded by mu: the jobs this node runs
	topics map[string]*jobTopic // guarded by mu: the topics of the jobs viewers have open
	conns  map[conn]Client      // guarded by mu: this node's sockets and who they are, for PolicyChanged
	closed bool                 // guarded by mu: Shutdown was called
}

// New creates (or updates) the jobs' stream and bucket on opts.Engine,
// reads the history, and returns a service whose heartbeat runs until
// Shutdown.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Engine == nil {
		return nil, errors.New("exec: no engine")
	}
	if opts.Policy == nil {
		opts.Policy = batch.DefaultPolicy()
	}
	if opts.MaxHosts == 0 {
		opts.MaxHosts = hostexpr.DefaultMaxHosts
	}
	setDefault(&opts.MaxCommand, DefaultMaxCommand)
	setDefault(&opts.ReplayBytes, DefaultReplayBytes)
	setDefault(&opts.MaxTerminal, DefaultMaxTerminal)
	setDefault(&opts.MaxBatch, DefaultMaxBatch)
	setDefault(&opts.FlushInterval, DefaultFlushInterval)
	setDefault(&opts.MaxJobs, DefaultMaxJobs)
	setDefault(&opts.MaxClientJobs, DefaultMaxClientJobs)
	setDefault(&opts.MaxHistory, DefaultMaxHistory)
	setDefault(&opts.HistoryBytes, DefaultHistoryBytes)
	setDefault(&opts.HistoryAge, DefaultHistoryAge)
	setDefault(&opts.Heartbeat, DefaultHeartbeat)
	setDefault(&opts.Lapse, 3*opts.Heartbeat)
	setDefault(&opts.Job.Fanout, batch.DefaultFanout)
	setDefault(&opts.Job.MaxOutput, batch.DefaultMaxOutput)
	if opts.Node == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "node"
		}
		opts.Node = host + "-" + newID()[:4]
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{
		opts:   opts,
		eng:    opts.Engine,
		now:    time.Now,
		index:  map[string]*indexed{},
		local:  map[string]*job{},
		topics: map[string]*jobTopic{},
		conns:  map[conn]Client{},
	}
	s.defaultRoles = policy.Default(&policy.Options{Ceiling: opts.Policy})
	if s.opts.Audit == nil {
		l, err := audit.Open(ctx, opts.Engine, opts.AuditOptions)
		if err != nil {
			return nil, err
		}
		s.opts.Audit = l
	}
	if err := s.openStore(ctx); err != nil {
		return nil, err
	}
	if err := s.watchRecords(ctx); err != nil {
		return nil, err
	}
	s.states = topic.New(s.stream, topic.Options{Subject: statesSubject, Log: opts.Logger})
	s.auditTopic = s.newAuditTopic()
	s.base, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.heartbeat()
	return s, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// newID returns 8 random lower-case letters and digits.
func newID() string { return strings.ToLower(rand.Text()[:8]) }

// Node returns this node's name, as the records give it.
func (s *Service) Node() string { return s.opts.Node }

// ServeSocket serves one viewer: a hello with the newest jobs and what
// the viewer may do, every job's state changes, the events of the job it
// opens, and its requests (count, run, cancel, open, list, audit) until
// the connection ends. Each request is checked against the viewer's
// identity and the policy in force when it comes.
func (s *Service) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	v := &viewer{s: s, c: c}
	client := clientOf(r)
	err := s.states.Join(ctx, c, topic.From{}, func(topic.Backlog) { c.SendOwn(mustJSON(s.hello(client))) })
	if err != nil {
		// Written, then closed with 1001: the page tries again.
		return c.Refuse(ctx, socket.Errorf(CodeEngine, "the job history cannot be read: %v", err))
	}
	defer s.states.Leave(c)
	defer v.close()
	s.mu.Lock()
	s.conns[c] = client
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	return c.Run(ctx, func(m socket.Message) error {
		switch m.Type {
		case "count":
			var req countRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			c.SendJSON(s.CountFor(req.ID, req.Hosts, client))
			return nil
		case "run":
			var req runRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			id, err := s.StartFor(ctx, req.Hosts, req.Command, client)
			if err != nil {
				return err
			}
			c.SendJSON(acceptedMessage{Type: "accepted", ID: req.ID, Job: id})
			return nil
		case "cancel":
			var req cancelRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			id := req.Job
			if id == "" {
				id = v.opened()
			}
			return s.CancelFor(ctx, id, client)
		case "open":
			var req openRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			return v.open(ctx, req.Job)
		case "audit":
			var req auditRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			if a := s.access(client); a.Role != users.Admin {
				return socket.Errorf(CodeDenied, "%s: only admins read the audit log (%s)", roleName(a), nameOr(a.Subject.Name))
			}
			return v.serveAudit(ctx, req)
		case "list":
			var req listRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			c.SendJSON(listMessage{Type: "list", ID: req.ID, Jobs: s.List(req.Filter)})
			return nil
		}
		return socket.UnknownType(m.Type)
	})
}

func decode(m socket.Message, v any) error {
	if err := json.Unmarshal(m.Data, v); err != nil {
		return socket.Errorf(socket.CodeBadJSON, "%s: %v", m.Type, err)
	}
	return nil
}

// helloListed is how many of the newest jobs a hello lists.
const helloListed = 20

func (s *Service) hello(c Client) helloMessage {
	a := s.access(c)
	return helloMessage{
		Type: "hello", AllowHosts: s.opts.Policy.String(), MaxHosts: s.opts.MaxHosts,
		MaxCommand: s.opts.MaxCommand, Fanout: s.opts.Job.Fanout, MaxOutput: s.opts.Job.MaxOutput,
		MaxJobs: s.opts.MaxJobs, MaxClientJobs: s.opts.MaxClientJobs, Node: s.opts.Node,
		Jobs: s.List(Filter{Limit: helloListed}),
		User: c.Identity.User, Method: c.Identity.Method, Role: roleName(a),
		MayRun: mayRun(a) == nil, Groups: append([]string{}, a.Groups()...),
	}
}

// PolicyChanged tells each socket of this node what its user may do under
// the policy in force now (an access message), so that the pages show
// the change at once; call it after a reload. The checks need no such
// call: each message reads the policy in force.
func (s *Service) PolicyChanged() {
	s.mu.Lock()
	conns := make(map[conn]Client, len(s.conns))
	for c, client := range s.conns {
		conns[c] = client
	}
	s.mu.Unlock()
	for c, client := range conns {
		a := s.access(client)
		c.SendOwn(mustJSON(accessMessage{
			Type: "access", User: client.Identity.User, Method: client.Identity.Method, Role: roleName(a),
			MayRun: mayRun(a) == nil, Groups: append([]string{}, a.Groups()...),
		}))
	}
}

// roleName is the name of a's effective role, "none" for none.
func roleName(a *policy.Access) string {
	if !a.Role.Valid() {
		return "none"
	}
	return a.Role.String()
}

// Count expands expr without running anything, as an admin: CountFor
// with a client who may reach everything within the ceiling.
func (s *Service) Count(id, expr string) countMessage {
	return s.CountFor(id, expr, Client{Identity: consoleIdentity})
}

// CountFor expands expr for client without running anything: how many
// hosts, folded, and which of them client may not reach (beyond the
// ceiling, or outside its host groups); or why it is not valid (a syntax
// error, a host group that is not theirs).
func (s *Service) CountFor(id, expr string, client Client) countMessage {
	m := countMessage{Type: "count", ID: id, Hosts: expr}
	a := s.access(client)
	hosts, err := a.Expand(expr, &hostexpr.Options{MaxHosts: s.opts.MaxHosts})
	if err != nil {
		m.Error = err.Error()
		var se *hostexpr.SyntaxError
		if errors.As(err, &se) {
			at := se.Offset
			m.At, m.Len = &at, se.Len
		}
		return m
	}
	m.Count, m.Folded = len(hosts), hostexpr.Fold(hosts)
	if denied := a.Denied(hosts); len(denied) > 0 {
		m.Denied = hostexpr.Fold(denied)
	}
	return m
}

// consoleIdentity is who Start and Count act as: the console's own
// callers, an admin as in token mode.
var consoleIdentity = auth.Identity{User: auth.TokenUser, Role: users.Admin, Method: auth.MethodToken}

// Start starts a job for a client known only by name, as an admin (the
// console's own callers and tests): StartFor with Client{Name: client}
// and the identity of token mode.
func (s *Service) Start(ctx context.Context, expr, command, client string) (string, error) {
	return s.StartFor(ctx, expr, command, Client{Name: client, Identity: consoleIdentity})
}

// StartFor starts a job running command on the hosts of expr, for client
// (who asked: it goes to the log, the record and the audit record), and
// returns its id once its record and its audit start record are stored.
// It refuses, with a *socket.Error saying why, a client whose role runs
// no jobs (a viewer), an empty or too long command, a malformed
// expression, a host group (@NAME) that is unknown or not the client's,
// targets beyond the ceiling (--allow-hosts) or outside the client's host
// groups (naming them), a job over the console's or the client's cap,
// and any job whose record or start record cannot be stored.
func (s *Service) StartFor(ctx context.Context, expr, command string, client Client) (string, error) {
	a := s.access(client)
	if err := mayRun(a); err != nil {
		return "", err
	}
	command = strings.TrimSpace(command)
	switch {
	case command == "":
		return "", socket.Errorf(socket.CodeInvalid, "no command")
	case len(command) > s.opts.MaxCommand:
		return "", socket.Errorf(socket.CodeTooBig, "command of %d bytes, over the limit of %d", len(command), s.opts.MaxCommand)
	}
	hosts, err := s.targets(a, expr)
	if err != nil {
		return "", err
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.String()
	}
	now := time.Now().UTC()
	rec := &Record{
		ID: newID(), Expression: expr, Folded: hostexpr.Fold(hosts), Command: command,
		Hosts: names, Total: len(names), Client: client.Name, User: userOf(client),
		Method: client.Identity.Method, Role: a.Role.String(),
		RemoteAddr: client.RemoteAddr, Node: s.opts.Node, State: StateRunning, Started: now, Beat: now,
	}

	if err := s.acquire(ctx, rec.ID, rec.User); err != nil {
		var se *socket.Error
		if errors.As(err, &se) {
			return "", err
		}
		return "", socket.Errorf(CodeEngine, "the running jobs could not be counted, so nothing ran: %v", err)
	}
	started := false
	defer func() {
		if !started {
			s.release(context.WithoutCancel(ctx), rec.ID)
		}
	}()
	start := audit.Record{
		Event: audit.EventStart, Job: rec.ID, Client: client.Name, Expression: expr,
		Hosts: len(hosts), Command: command, Time: now, Node: s.opts.Node,
		RemoteAddr: client.RemoteAddr, UserAgent: client.UserAgent, Session: client.Session,
		User: client.Identity.User, Method: client.Identity.Method, Role: a.Role.String(),
	}
	// Stored before anything runs: a job the audit log cannot record
	// does not run.
	if s.opts.Audit != nil {
		seq, err := s.opts.Audit.Write(ctx, start)
		if err != nil {
			s.opts.Logger.Error("exec: job refused: the audit log failed", "err", err)
			return "", socket.Errorf(CodeAudit, "the audit log could not be written, so nothing ran: %v", err)
		}
		s.opts.Logger.Info("exec: audit record", "job", rec.ID, "event", start.Event, "seq", seq)
	}
	rev, err := s.bucket.Create(ctx, rec.ID, rec.marshal())
	if err != nil {
		s.opts.Logger.Error("exec: job refused: its record could not be stored", "err", err)
		if s.opts.Audit != nil {
			end := audit.EndRecord(start, nil, nil)
			end.State = StateFailed
			_, _ = s.opts.Audit.Write(context.WithoutCancel(ctx), end)
		}
		return "", socket.Errorf(CodeEngine, "the job could not be recorded, so nothing ran: %v", err)
	}

	jctx, cancel := context.WithCancel(s.base)
	j := &job{rec: rec, start: start, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		s.finish(ctx, j, nil, &batch.Summary{Total: rec.Total, Failed: rec.Total, Canceled: true}, "the console is shutting down")
		return "", socket.Errorf(socket.CodeInternal, "the console is shutting down")
	}
	s.noteLocked(rec, rev)
	s.local[rec.ID] = j
	s.mu.Unlock()
	s.announce(ctx, rec)

	cfg := s.opts.Job
	cfg.Targets, cfg.Command, cfg.Policy = hosts, command, s.opts.Policy
	s.opts.Logger.Info("exec: job started", "job", rec.ID, "client", client.Name, "hosts", len(hosts),
		"expression", rec.Folded, "command", command)
	started = true
	go s.run(jctx, j, cfg)
	go s.flusher(j)
	return rec.ID, nil
}

// announce publishes a job's record on its state subject, for every
// node's viewers.
func (s *Service) announce(ctx context.Context, rec *Record) {
	c := *rec
	c.Hosts = nil
	b := mustJSON(stateMessage{Type: "state", Job: &c})
	if _, err := s.stream.Publish(context.WithoutCancel(ctx), stateSubject(rec.ID), b, ""); err != nil {
		s.opts.Logger.Warn("exec: announcing a job", "job", rec.ID, "err", err)
	}
}

// CancelFor cancels the running job id for client, if client may: an
// admin any job, an operator its own, a viewer none (a *socket.Error
// with CodeDenied says why). Then it is Cancel.
func (s *Service) CancelFor(ctx context.Context, id string, client Client) error {
	if id == "" {
		return socket.Errorf(CodeNoJob, "no job given")
	}
	s.mu.Lock()
	x := s.index[id]
	s.mu.Unlock()
	if x == nil {
		return socket.Errorf(CodeNoJob, "job %q is not running", id)
	}
	if err := mayCancel(s.access(client), client.Identity, x.rec); err != nil {
		return err
	}
	return s.Cancel(ctx, id, client.Name)
}

// Cancel cancels the running job id, for client: at once if this node
// runs it, else through its record, which the node running it watches.
// It returns once the cancel is on its way; the job's summary follows
// when every host stopped.
func (s *Service) Cancel(ctx context.Context, id, client string) error {
	if id == "" {
		return socket.Errorf(CodeNoJob, "no job given")
	}
	s.mu.Lock()
	j := s.local[id]
	x := s.index[id]
	s.mu.Unlock()
	if j != nil {
		s.opts.Logger.Info("exec: job cancelled", "job", id, "client", client)
		j.cancel()
		return nil
	}
	if x == nil || x.rec.State != StateRunning {
		return socket.Errorf(CodeNoJob, "job %q is not running", id)
	}
	running := true
	_, err := s.updateRecord(ctx, id, func(r *Record) bool {
		running = r.State == StateRunning
		if !running || r.CancelBy != "" {
			return false
		}
		r.CancelBy = client
		return true
	})
	switch {
	case errors.Is(err, engine.ErrNotFound), err == nil && !running:
		return socket.Errorf(CodeNoJob, "job %q is not running", id)
	case err != nil:
		return socket.Errorf(CodeEngine, "the cancel could not be passed on: %v", err)
	}
	s.opts.Logger.Info("exec: job cancel passed on", "job", id, "node", x.rec.Node, "client", client)
	return nil
}

// Shutdown cancels this node's running jobs and waits until they have
// ended and their end records are written, or ctx is done; then it stops
// the heartbeat, the watch and the topics. No job starts after it.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var running []*job
	for _, j := range s.local {
		running = append(running, j)
	}
	s.mu.Unlock()
	s.stop()
	var err error
	for _, j := range running {
		select {
		case <-j.done:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("exec: job %s still stopping: %w", j.rec.ID, ctx.Err()))
		}
	}
	s.wg.Wait()
	s.watcher.Stop()
	s.states.Close()
	s.auditTopic.Close()
	s.mu.Lock()
	topics := s.topics
	s.topics = map[string]*jobTopic{}
	s.mu.Unlock()
	// The viewers here of a job this node ended get its last events (the
	// summary) before the server closes their sockets.
	for _, j := range running {
		t, ok := topics[j.rec.ID]
		if !ok {
			continue
		}
		j.mu.Lock()
		seq := j.lastSeq
		j.mu.Unlock()
		if werr := t.t.Delivered(ctx, seq); werr != nil {
			err = errors.Join(err, fmt.Errorf("exec: job %s: %w", j.rec.ID, werr))
		}
	}
	for _, t := range topics {
		t.t.Close()
	}
	return err
}
