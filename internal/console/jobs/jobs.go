// Package jobs is the console's Exec endpoint, /ws/exec: clients ask for a
// command to be run on a host expression, the service runs it with package
// batch, and every connected viewer sees the job live: each host's output
// lines, its result, and the summary.
//
// One job runs at a time: the console has one terminal, shared by its
// viewers, and a second job is refused until the first ends or is
// cancelled. A job belongs to the console, not to the connection that
// asked for it: it goes on when that viewer leaves, and any viewer may
// cancel it. A viewer who arrives while a job runs, or after, gets the job
// and what happened so far (every result, and the last
// Options.ReplayBytes of output).
//
// Before a job runs, its expression is expanded (at most Options.MaxHosts
// hosts), checked against the policy (--allow-hosts: by default only
// loopback and local), and a start record is appended to the audit log;
// a job that fails any of these does not run, and the client is told why.
// The end record follows when it ends, cancelled or not.
//
// Events are batched: the pending ones go out every Options.FlushInterval,
// or at once when they reach Options.MaxBatch bytes, each batch encoded
// once for every viewer. A job sends at most Options.MaxTerminal bytes of
// output lines to the page; beyond that only results are sent.
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
	"path/filepath"
	"strings"
	"sync"
	"time"

	"wsdeck/internal/console/socket"
	"wsdeck/internal/fleet/batch"
	"wsdeck/internal/fleet/hostexpr"
	"wsdeck/websocket"
)

// Defaults for Options.
const (
	DefaultMaxCommand    = 8 << 10
	DefaultReplayBytes   = 1 << 20
	DefaultMaxTerminal   = 16 << 20
	DefaultMaxBatch      = 64 << 10
	DefaultFlushInterval = 50 * time.Millisecond
)

// Error codes of refused requests, beside the socket package's.
const (
	CodeDenied = "denied" // a target outside --allow-hosts
	CodeBusy   = "busy"   // a job is running already
	CodeNoJob  = "no_job" // cancel with no such job running
	CodeAudit  = "audit"  // the audit log could not be written: nothing ran
)

// Options configure a Service. The zero value runs jobs with batch's
// defaults on loopback and local only, and keeps no audit log.
type Options struct {
	// Job holds the SSH settings of every job (user, port, keys,
	// known_hosts, timeouts, fan-out, output cap); its Targets, Command
	// and Policy are set per job.
	Job batch.Config
	// Policy is which targets a job may reach; nil means
	// batch.DefaultPolicy (loopback and local).
	Policy *batch.Policy
	// MaxHosts caps the hosts of one job. 0 means hostexpr.DefaultMaxHosts.
	MaxHosts int
	// MaxCommand is the longest command, in bytes. 0 means
	// DefaultMaxCommand.
	MaxCommand int
	// Audit receives a start and an end record per job; nil keeps none.
	Audit *batch.AuditLog
	// ReplayBytes is how much of a job's output a late viewer gets.
	// 0 means DefaultReplayBytes.
	ReplayBytes int
	// MaxTerminal is how many bytes of output lines a job sends to the
	// page. 0 means DefaultMaxTerminal.
	MaxTerminal int64
	// MaxBatch and FlushInterval bound how long events wait to be sent:
	// a batch goes out when it reaches MaxBatch bytes, or after
	// FlushInterval. 0 means the defaults.
	MaxBatch      int
	FlushInterval time.Duration
	// Logger receives a line per job; nil means slog.Default.
	Logger *slog.Logger
}

// Service runs jobs and serves /ws/exec. Its methods are safe for
// concurrent use.
type Service struct {
	opts Options
	base context.Context // parent of every job; cancelled by Shutdown
	stop context.CancelFunc

	mu      sync.Mutex
	viewers map[viewer]struct{} // guarded by mu
	current *job                // guarded by mu: the running job, or the last one; nil before any
	closed  bool                // guarded by mu: Shutdown was called
}

// viewer is where the service sends a viewer's frames: a *socket.Conn.
type viewer interface {
	Send(pm *websocket.PreparedMessage) bool
	SendOwn(b []byte) bool
}

// New returns a service with opts.
func New(opts Options) *Service {
	if opts.Policy == nil {
		opts.Policy = batch.DefaultPolicy()
	}
	if opts.MaxHosts == 0 {
		opts.MaxHosts = hostexpr.DefaultMaxHosts
	}
	if opts.MaxCommand <= 0 {
		opts.MaxCommand = DefaultMaxCommand
	}
	if opts.ReplayBytes <= 0 {
		opts.ReplayBytes = DefaultReplayBytes
	}
	if opts.MaxTerminal <= 0 {
		opts.MaxTerminal = DefaultMaxTerminal
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Job.Fanout <= 0 {
		opts.Job.Fanout = batch.DefaultFanout
	}
	if opts.Job.MaxOutput <= 0 {
		opts.Job.MaxOutput = batch.DefaultMaxOutput
	}
	s := &Service{opts: opts, viewers: map[viewer]struct{}{}}
	s.base, s.stop = context.WithCancel(context.Background())
	return s
}

// ServeSocket serves one viewer: a hello, the current job if there is
// one, then every job's events, and the viewer's requests (count, run,
// cancel) until the connection ends.
func (s *Service) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	s.watch(c)
	defer s.unwatch(c)
	client := clientOf(r)
	return c.Run(ctx, func(m socket.Message) error {
		switch m.Type {
		case "count":
			var req countRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			c.SendJSON(s.Count(req.ID, req.Hosts))
			return nil
		case "run":
			var req runRequest
			if err := decode(m, &req); err != nil {
				return err
			}
			id, err := s.StartFor(req.Hosts, req.Command, client)
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
			return s.Cancel(req.Job, client.Name)
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

func (s *Service) watch(v viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v.SendOwn(mustJSON(helloMessage{
		Type: "hello", AllowHosts: s.opts.Policy.String(), MaxHosts: s.opts.MaxHosts,
		MaxCommand: s.opts.MaxCommand, Fanout: s.opts.Job.Fanout, MaxOutput: s.opts.Job.MaxOutput,
	}))
	if s.current != nil {
		s.replayLocked(v, s.current)
	}
	s.viewers[v] = struct{}{}
}

func (s *Service) unwatch(v viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.viewers, v)
}

// parse expands a host expression within the cap.
func (s *Service) parse(expr string) ([]hostexpr.Host, error) {
	return hostexpr.Parse(expr, &hostexpr.Options{MaxHosts: s.opts.MaxHosts})
}

// Count expands expr without running anything: how many hosts, folded,
// and which of them the policy refuses; or why it is not valid.
func (s *Service) Count(id, expr string) countMessage {
	m := countMessage{Type: "count", ID: id, Hosts: expr}
	hosts, err := s.parse(expr)
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
	if denied := s.opts.Policy.Denied(hosts); len(denied) > 0 {
		m.Denied = hostexpr.Fold(denied)
	}
	return m
}

// Start starts a job for a client known only by name: StartFor with
// Client{Name: client}.
func (s *Service) Start(expr, command, client string) (string, error) {
	return s.StartFor(expr, command, Client{Name: client})
}

// StartFor starts a job running command on the hosts of expr, for client
// (who asked: it goes to the log and the audit record), and returns its
// id. It refuses, with a *socket.Error saying why, an empty or too long
// command, a malformed expression, targets the policy does not allow, a
// second job while one runs, and any job when the start record cannot be
// written to the audit log.
func (s *Service) StartFor(expr, command string, client Client) (string, error) {
	command = strings.TrimSpace(command)
	switch {
	case command == "":
		return "", socket.Errorf(socket.CodeInvalid, "no command")
	case len(command) > s.opts.MaxCommand:
		return "", socket.Errorf(socket.CodeTooBig, "command of %d bytes, over the limit of %d", len(command), s.opts.MaxCommand)
	}
	hosts, err := s.parse(expr)
	if err != nil {
		return "", socket.Errorf(socket.CodeInvalid, "%v", err)
	}
	if err := s.opts.Policy.Check(hosts); err != nil {
		return "", socket.Errorf(CodeDenied, "%v: start the console with --allow-hosts to reach them", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return "", socket.Errorf(socket.CodeInternal, "the console is shutting down")
	case s.current != nil && !s.current.ended:
		return "", socket.Errorf(CodeBusy, "job %s is running (%s on %s): wait for it or cancel it",
			s.current.info.ID, s.current.info.Command, s.current.info.Folded)
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.String()
	}
	j := &job{
		info: jobInfo{
			ID: strings.ToLower(rand.Text()[:8]), Expression: expr, Folded: hostexpr.Fold(hosts),
			Command: command, Hosts: names, Client: client.Name, Started: time.Now().UTC(),
		},
		done: make(chan struct{}),
	}
	start := batch.AuditRecord{
		Event: "start", Job: j.info.ID, Client: client.Name, Expression: expr,
		Hosts: len(hosts), Command: command, Time: j.info.Started,
		RemoteAddr: client.RemoteAddr, UserAgent: client.UserAgent, Session: client.Session,
	}
	// Written before anything runs: a job the log cannot record does not
	// run.
	if err := s.writeAudit(start); err != nil {
		s.opts.Logger.Error("exec: job refused: the audit log failed", "err", err)
		return "", socket.Errorf(CodeAudit, "the audit log could not be written, so nothing ran: %v", err)
	}
	ctx, cancel := context.WithCancel(s.base)
	j.cancel = cancel
	s.current = j
	cfg := s.opts.Job
	cfg.Targets, cfg.Command, cfg.Policy = hosts, command, s.opts.Policy
	b := mustJSON(jobMessage{Type: "job", Job: j.info})
	pm, _ := websocket.NewPreparedMessage(websocket.MessageText, b)
	for v := range s.viewers {
		v.Send(pm)
	}
	s.opts.Logger.Info("exec: job started", "job", j.info.ID, "client", client.Name, "hosts", len(hosts),
		"expression", j.info.Folded, "command", command)
	go s.run(ctx, j, cfg, start)
	go s.flusher(j)
	return j.info.ID, nil
}

// run runs job j and ends it (see end).
func (s *Service) run(ctx context.Context, j *job, cfg batch.Config, start batch.AuditRecord) {
	defer close(j.done)
	defer j.cancel()
	results := make([]*batch.Result, len(cfg.Targets))
	var sum *batch.Summary
	_, err := batch.Run(ctx, cfg, func(ev batch.Event) {
		switch ev.Type {
		case batch.EventFinished:
			results[ev.Index] = ev.Result
		case batch.EventSummary:
			sum = ev.Summary
			s.end(j, start, results, summaryEvent{E: "summary", Summary: sum, Text: sum.String()})
			return
		}
		s.handle(j, ev)
	})
	if sum == nil {
		// The engine refused the job (the config was checked, so this
		// is a bug or the environment, such as no home directory).
		// Viewers wait for a summary: give them one.
		why := "no summary"
		if err != nil {
			why = err.Error()
		}
		s.opts.Logger.Error("exec: job did not run", "job", j.info.ID, "err", why)
		n := len(cfg.Targets)
		sum = &batch.Summary{Total: n, Failed: n, FailedHosts: j.info.Folded}
		s.end(j, start, results, summaryEvent{E: "summary", Summary: sum, Text: "the job did not run: " + why})
	}
	s.opts.Logger.Info("exec: job ended", "job", j.info.ID, "summary", sum.String())
}

// end writes job j's end record, then marks it ended and sends its
// summary, in that order: a viewer who has the summary may start the next
// job at once, and the log has this one's end before the next one's start.
func (s *Service) end(j *job, start batch.AuditRecord, results []*batch.Result, ev summaryEvent) {
	if err := s.writeAudit(batch.EndRecord(start, results, ev.Summary)); err != nil {
		s.opts.Logger.Error("exec: audit log", "job", j.info.ID, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j.ended = true
	s.addLocked(j, ev)
	s.flushLocked(j)
}

// Cancel cancels the running job id ("" for whichever runs), for client.
// It returns at once; the job's summary follows when every host stopped.
func (s *Service) Cancel(id, client string) error {
	s.mu.Lock()
	j := s.current
	running := j != nil && !j.ended && (id == "" || id == j.info.ID)
	s.mu.Unlock()
	if !running {
		if id == "" {
			return socket.Errorf(CodeNoJob, "no job is running")
		}
		return socket.Errorf(CodeNoJob, "job %q is not running", id)
	}
	s.opts.Logger.Info("exec: job cancelled", "job", j.info.ID, "client", client)
	j.cancel()
	return nil
}

// Shutdown cancels the running job and waits until it has ended and its
// end record is written, or ctx is done. No job starts after it.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	j := s.current
	s.mu.Unlock()
	s.stop()
	if j == nil {
		return nil
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("exec: job %s still stopping: %w", j.info.ID, ctx.Err())
	}
}

// DefaultAuditLog returns where the console keeps its audit log by
// default: $XDG_STATE_HOME/wsdeck/exec-audit.jsonl, or
// ~/.local/state/wsdeck/exec-audit.jsonl.
func DefaultAuditLog() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "wsdeck", "exec-audit.jsonl")
}

// OpenAuditLog opens the audit log at path for appending, making its
// directory (mode 0700) if needed: see batch.OpenAuditLog (the file is
// locked while open; its records chain on from its last line).
func OpenAuditLog(path string) (*batch.AuditLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return batch.OpenAuditLog(path)
}
