package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/chat"
	"github.com/wsdeck/wsdeck/internal/console/fleetmon"
	"github.com/wsdeck/wsdeck/internal/console/jobs"
	"github.com/wsdeck/wsdeck/internal/console/monitor"
	"github.com/wsdeck/wsdeck/internal/console/shell"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// An Endpoint serves one of the console's WebSocket protocols on the
// sockets the server accepts at its path, /ws/NAME.
type Endpoint interface {
	socket.Endpoint
	// Shutdown stops what the endpoint runs on its own (a running job, a
	// sampler, a subscription) and queues for its viewers what they must
	// see before they go, such as a job's end. The server calls it once,
	// after it stops accepting and before it closes any socket, so it must
	// not wait for ServeSocket calls to return; ctx bounds it.
	Shutdown(ctx context.Context) error
}

// route is an endpoint and its name: its path is /ws/NAME, and the
// metrics and logs name it so.
type route struct {
	name string
	ep   Endpoint
}

// buildEndpoints builds the console's endpoints from the config and the
// engine, in the order Serve shuts them down: Exec first, so that a
// running job is cancelled and its end reaches its viewers while every
// socket is still open. On error, the endpoints built so far are shut
// down.
func (s *Server) buildEndpoints(ctx context.Context) error {
	if err := s.addEndpoints(ctx); err != nil {
		s.shutdownEndpoints(ctx)
		return err
	}
	return nil
}

func (s *Server) addEndpoints(ctx context.Context) error {
	// The node's name, the same in the jobs' records and the Monitor.
	if s.cfg.NodeName == "" {
		s.cfg.NodeName = monitor.DefaultNode()
	} else if err := monitor.CheckNode(s.cfg.NodeName); err != nil {
		return fmt.Errorf("server: %w", err)
	}

	// Roles: the policy in force (--policy), its loads audited in the
	// log the jobs write to; reloaded on Config.PolicyReload (watched
	// once the endpoints are built).
	log, err := s.sharedAudit(ctx)
	if err != nil {
		return err
	}
	if err := s.openRoles(ctx, log); err != nil {
		return err
	}
	// Recordings, before the terminals that are recorded.
	if err := s.openRecordings(ctx, log); err != nil {
		return err
	}

	// Exec: the jobs service, or an endpoint that says it is not
	// configured. Every request is checked against the policy in force.
	var exec Endpoint = notConfigured{}
	if s.cfg.Exec != nil {
		opts := *s.cfg.Exec
		opts.Roles = s.Roles
		if opts.Logger == nil {
			opts.Logger = s.log
		}
		opts.Engine = s.engine
		if opts.Node == "" {
			opts.Node = s.cfg.NodeName
		}
		svc, err := jobs.New(ctx, opts)
		if err != nil {
			return err
		}
		s.roles.onChange = append(s.roles.onChange, svc.PolicyChanged) // pages see a reload at once
		exec = svc
	}
	s.addEndpoint("exec", exec)

	// Shell: terminals, with Exec's SSH settings and ceiling, checked
	// against the policy in force; shut down after Exec, so that their
	// ends reach the pages and the audit.
	shellOpts := s.cfg.Shell
	shellOpts.Node, shellOpts.Roles, shellOpts.Audit = s.cfg.NodeName, s.Roles, log
	if shellOpts.Logger == nil {
		shellOpts.Logger = s.log
	}
	if shellOpts.Record == nil {
		shellOpts.Record = s.RecordFactory() // every session recorded (recordings.go)
	}
	if s.cfg.Exec != nil {
		shellOpts.SSH = s.cfg.Exec.Job
		shellOpts.SSH.Policy = s.cfg.Exec.Policy
	}
	s.shell = shell.NewRegistry(shellOpts)
	s.addEndpoint("shell", s.shell)

	// Chat.
	chatOpts := s.cfg.Chat
	if chatOpts.Logger == nil {
		chatOpts.Logger = s.log
	}
	hub, err := chat.New(ctx, s.engine, chatOpts)
	if err != nil {
		return err
	}
	s.hub = hub
	s.addEndpoint("chat", s.hub)

	// Monitor.
	monOpts := s.cfg.Monitor
	monOpts.OnSample = s.metrics.SampleTaken
	if monOpts.Logger == nil {
		monOpts.Logger = s.log
	}
	if monOpts.Node == "" {
		monOpts.Node = s.cfg.NodeName
	}
	mon, err := monitor.New(ctx, s.engine, monOpts)
	if err != nil {
		return err
	}
	s.monitor = mon
	s.addEndpoint("monitor", s.monitor)

	// Fleet: the Fleet Monitor, with Exec's SSH settings and ceiling
	// (without Exec, the default --allow-hosts); who may watch what is
	// checked against the policy in force, as Exec's runs are.
	fleetOpts := s.cfg.Fleet
	fleetOpts.Node, fleetOpts.Roles = s.cfg.NodeName, s.Roles
	if fleetOpts.Logger == nil {
		fleetOpts.Logger = s.log
	}
	fleetOpts.SSH.Policy = batch.DefaultPolicy()
	if s.cfg.Exec != nil {
		fleetOpts.SSH = s.cfg.Exec.Job
		if s.cfg.Exec.Policy != nil {
			fleetOpts.SSH.Policy = s.cfg.Exec.Policy
		}
		if fleetOpts.Fanout == 0 {
			fleetOpts.Fanout = s.cfg.Exec.Job.Fanout
		}
	}
	fl, err := fleetmon.New(ctx, s.engine, fleetOpts)
	if err != nil {
		return err
	}
	s.addEndpoint("fleet", fl)
	s.watchPolicy() // once every endpoint is there to be told of a reload
	return nil
}

// NodeName returns this node's name, as the Monitor and the jobs' records
// give it.
func (s *Server) NodeName() string { return s.cfg.NodeName }

// addEndpoint appends ep to the routes, as the test hook sees it.
func (s *Server) addEndpoint(name string, ep Endpoint) {
	if s.cfg.wrapEndpoint != nil {
		ep = s.cfg.wrapEndpoint(name, ep)
	}
	s.endpoints = append(s.endpoints, route{name: name, ep: ep})
}

// sharedAudit returns the audit log the jobs write to (Exec.Audit), and
// opens it if no one has, so that every record of this node goes through
// one writer (which keeps the export file's order).
func (s *Server) sharedAudit(ctx context.Context) (*audit.Log, error) {
	if s.cfg.Exec != nil && s.cfg.Exec.Audit != nil {
		return s.cfg.Exec.Audit, nil
	}
	var aopts audit.Options
	if s.cfg.Exec != nil {
		aopts = s.cfg.Exec.AuditOptions
	}
	log, err := audit.Open(ctx, s.engine, aopts)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if s.cfg.Exec != nil {
		exec := *s.cfg.Exec
		exec.Audit = log
		s.cfg.Exec = &exec
	}
	return log, nil
}

// shutdownEndpoints stops the policy's reloads, then shuts every endpoint
// down, in the order they were built, each within what is left of ctx.
func (s *Server) shutdownEndpoints(ctx context.Context) {
	s.stopPolicy()
	for _, r := range s.endpoints {
		if err := r.ep.Shutdown(ctx); err != nil {
			s.log.Warn("shutdown: "+r.name, "err", err)
		}
	}
	s.closeRecordings(ctx) // once the terminals have ended
}

// noShutdown is an endpoint that runs nothing of its own to stop.
type noShutdown struct{ socket.Endpoint }

func (noShutdown) Shutdown(context.Context) error { return nil }

// notConfigured is the exec endpoint until Exec is set up: every
// connection gets a not_configured error, and so does every message.
type notConfigured struct{}

func (notConfigured) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	err := socket.Errorf(socket.CodeNotConfigured, "Exec is not configured on this server")
	c.SendError("", "", err)
	return c.Run(ctx, func(socket.Message) error { return err })
}

func (notConfigured) Shutdown(context.Context) error { return nil }
