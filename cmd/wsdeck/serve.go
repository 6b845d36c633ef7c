package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/chat"
	"github.com/wsdeck/wsdeck/internal/console/jobs"
	"github.com/wsdeck/wsdeck/internal/console/monitor"
	"github.com/wsdeck/wsdeck/internal/console/server"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

var serveCmd = &command{
	name:    "serve",
	args:    "[flags]   (or wsdeck [flags])",
	summary: "serve the console: Chat, Monitor and Exec in the browser (the default)",
	doc: `Serves the console (Chat, Monitor, Exec) and prints its login URL, with a
token that becomes a session cookie. It listens on loopback unless --addr
says otherwise; scripts send Authorization: Bearer TOKEN. Exec runs commands
over SSH, only on --allow-hosts, and records each job's start and end in the audit log (wsdeck audit).
The console's state (login sessions now) lives under --state-dir, in a NATS
server with JetStream that wsdeck runs inside itself; --nats makes it use an
existing NATS deployment instead, which several wsdeck nodes can share.`,
	example: `wsdeck serve
wsdeck serve --addr 127.0.0.1:9000 --allow-hosts '10.0.0.0/24,local' --accept-new
wsdeck serve --nats nats://10.0.0.5:4222,nats://10.0.0.6:4222 --nats-creds wsdeck.creds`,
	run: runServe,
}

func runServe(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var cfg server.Config
	fs.StringVar(&cfg.Addr, "addr", server.DefaultAddr, "listen address")
	fs.StringVar(&cfg.Token, "token", "", "the login token; it shows in ps: prefer --token-file or $WSDECK_TOKEN (default: a random one, printed in the login URL)")
	tokenFile := fs.String("token-file", "", "read the login token from this `file` (mode 0600, one line)")
	fs.BoolFunc("print-url", "print the login URL, token and all (default: only when the token is random; --print-url=false never)", func(v string) error {
		on, err := strconv.ParseBool(v)
		cfg.PrintURL = map[bool]server.PrintURL{true: server.PrintURLAlways, false: server.PrintURLNever}[on]
		return err
	})
	fs.StringVar(&cfg.URLFile, "url-file", "", "write the login URL to this `file`, mode 0600")
	defaultStateDir, _ := engine.DefaultStateDir() // "" if there is no home: then --state-dir is needed
	fs.StringVar(&cfg.Engine.StateDir, "state-dir", defaultStateDir, "keep the console's state (sessions, the audit log) in this `directory`")
	fs.Func("nats", "use the NATS deployment at these comma-separated `URLs` (nats://host:4222, tls://...) instead of the embedded server", func(v string) error {
		for u := range strings.SplitSeq(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.Engine.URLs = append(cfg.Engine.URLs, u)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.Engine.CredsFile, "nats-creds", "", "with --nats: NATS credentials `file` (user JWT and NKey seed)")
	fs.StringVar(&cfg.Engine.CAFile, "nats-ca", "", "with --nats: PEM `file` of the CAs that verify the NATS servers (TLS)")
	fs.StringVar(&cfg.Engine.CertFile, "nats-cert", "", "with --nats: PEM client certificate `file`, for servers that require one (with --nats-key)")
	fs.StringVar(&cfg.Engine.KeyFile, "nats-key", "", "with --nats: PEM private key `file` of --nats-cert")
	fs.DurationVar(&cfg.Engine.ConnectTimeout, "nats-connect-timeout", engine.DefaultConnectTimeout, "with --nats: bound on reaching a NATS server at start")
	fs.DurationVar(&cfg.Engine.JetStreamWait, "nats-wait", engine.DefaultJetStreamWait, "with --nats: bound on waiting at start for a reached cluster's JetStream to answer (while it elects its leader)")
	fs.DurationVar(&cfg.SessionIdle, "session-idle", server.DefaultSessionIdle, "end a login session unused for this long (an open page is a use)")
	fs.DurationVar(&cfg.SessionMax, "session-max", server.DefaultSessionMax, "end a login session this long after the login")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", server.DefaultMaxSessions, "login sessions kept; past it a login ends the least recently used")
	fs.Func("allow-host", "also answer requests whose Host header is this `name` (repeatable; .example.com: the domain and its subdomains; *: any). "+
		"localhost and IP addresses are always answered", func(v string) error {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				cfg.AllowHosts = append(cfg.AllowHosts, h)
			}
		}
		return nil
	})
	hstsMaxAge := fs.Duration("hsts-max-age", server.DefaultHSTSMaxAge, "with TLS, the Strict-Transport-Security max-age (0: none)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate `file`: serve HTTPS (with --tls-key)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key `file`")
	fs.Func("allow-origin", "also accept WebSocket handshakes from this origin `pattern` (repeatable; e.g. https://*.example.com)", func(v string) error {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				cfg.AllowOrigins = append(cfg.AllowOrigins, p)
			}
		}
		return nil
	})
	fs.IntVar(&cfg.MaxConns, "max-conns", server.DefaultMaxConns, "most WebSocket connections open at once")
	fs.IntVar(&cfg.MaxConnsPerClient, "max-conns-per-client", server.DefaultMaxConnsPerClient, "most WebSocket connections of one client (a login session, or an address with the bearer token)")
	fs.Int64Var(&cfg.MaxMessageSize, "max-message-size", server.DefaultMaxMessageSize, "largest WebSocket message a client may send, in bytes")
	fs.Float64Var(&cfg.Socket.Rate, "rate", socket.DefaultRate, "messages per second a connection may send (-1: no limit)")
	fs.IntVar(&cfg.Socket.Burst, "burst", socket.DefaultBurst, "messages a connection may send at once")
	fs.IntVar(&cfg.Socket.QueueSize, "queue", socket.DefaultQueueSize, "messages queued for a connection before it is dropped as too slow")
	fs.IntVar(&cfg.Chat.History, "chat-history", chat.DefaultHistory, "chat messages each room keeps (the oldest go first)")
	fs.Int64Var(&cfg.Chat.HistoryBytes, "chat-history-bytes", chat.DefaultHistoryBytes, "bytes of chat messages kept, all rooms together (the oldest go first)")
	fs.DurationVar(&cfg.Chat.HistoryAge, "chat-history-age", chat.DefaultHistoryAge, "how long a chat message (or join, leave, nickname change) is kept")
	fs.IntVar(&cfg.Chat.PresenceHistory, "chat-presence-history", chat.DefaultPresenceHistory, "chat joins, leaves and nickname changes each room keeps, apart from the messages")
	fs.IntVar(&cfg.Chat.MaxRooms, "chat-max-rooms", chat.DefaultMaxRooms, "most chat rooms, the lobby included")
	fs.DurationVar(&cfg.Chat.DedupWindow, "chat-dedup-window", chat.DefaultDedupWindow, "how long a chat message id is remembered, so that a page's resend is stored once")
	fs.IntVar(&cfg.Chat.MaxText, "chat-max-text", chat.DefaultMaxText, "largest chat message, in bytes")
	fs.DurationVar(&cfg.Monitor.Interval, "sample-interval", server.DefaultSampleInterval, "time between monitor samples")
	fs.DurationVar(&cfg.Monitor.History, "monitor-history", server.DefaultMonitorHistory, "how far back the monitor's charts go")
	fs.Int64Var(&cfg.Monitor.HistoryBytes, "monitor-history-bytes", monitor.DefaultHistoryBytes, "bytes of monitor samples kept, all nodes together (the oldest go first)")
	fs.StringVar(&cfg.Monitor.DiskPath, "disk-path", "/", "file system whose usage the monitor shows")
	fs.Func("node-name", "this node's `name` in the Monitor's node list and the jobs' records: A-Z, a-z, 0-9, - and _ (default: the host name and 4 random characters)", func(v string) error {
		if err := monitor.CheckNode(v); err != nil {
			return err
		}
		cfg.NodeName = v
		return nil
	})
	var execOpts jobs.Options
	execOn := fs.Bool("exec", true, "serve the Exec tab (false: it says not configured)")
	allowHosts := fs.String("allow-hosts", batch.DefaultAllowHosts, "Exec: the only targets jobs may reach, comma-separated: CIDRs and addresses, host name `patterns` (* and ? stop at dots: *.lab.example.com) and local. "+
		"Every address dialled must be inside a CIDR or address, so a name allowed by a pattern also needs its network listed")
	auditLog := fs.String("audit-log", "", "Exec: also copy every audit record this node writes to this `file`, as JSON lines chained by SHA-256 (wsdeck audit verify checks it); the audit log itself is the engine's AUDIT stream (wsdeck audit)")
	fs.DurationVar(&execOpts.AuditOptions.MaxAge, "audit-max-age", 0, "Exec: how long the AUDIT stream keeps a record (0: forever; it refuses deletes and purges)")
	fs.DurationVar(&execOpts.AuditOptions.Dedupe, "audit-dedupe", audit.DefaultDedupe, "how long the AUDIT stream remembers each job's and terminal session's start and end, to store each once (a node back after being cut off writes an end that another node wrote for it); at most --audit-max-age")
	fs.IntVar(&execOpts.MaxJobs, "exec-max-jobs", jobs.DefaultMaxJobs, "Exec: jobs running at once across the console")
	fs.IntVar(&execOpts.MaxClientJobs, "exec-max-client-jobs", jobs.DefaultMaxClientJobs, "Exec: jobs running at once per client (login session, else address)")
	fs.IntVar(&execOpts.MaxHistory, "exec-history", jobs.DefaultMaxHistory, "Exec: jobs kept in the history (the oldest go first)")
	fs.Int64Var(&execOpts.HistoryBytes, "exec-history-bytes", jobs.DefaultHistoryBytes, "Exec: bytes of job events kept in the history")
	fs.DurationVar(&execOpts.HistoryAge, "exec-history-age", jobs.DefaultHistoryAge, "Exec: how long the history keeps a job")
	fs.DurationVar(&execOpts.Heartbeat, "exec-heartbeat", jobs.DefaultHeartbeat, "Exec: how often a node marks its running jobs alive; another node marks a job interrupted after three missed (so within four)")
	fs.IntVar(&execOpts.MaxHosts, "max-hosts", hostexpr.DefaultMaxHosts, "Exec: refuse expressions naming more hosts")
	fs.IntVar(&execOpts.MaxCommand, "max-command", jobs.DefaultMaxCommand, "Exec: longest command, in bytes")
	fs.Int64Var(&execOpts.MaxTerminal, "max-terminal", jobs.DefaultMaxTerminal, "Exec: bytes of output lines a job sends to the page (results are always sent)")
	policyFlags(fs, &cfg) // --policy: roles and host groups, reloaded on SIGHUP (policyflags.go)
	sshFlags(fs, &execOpts.Job)
	oidcFlags(fs, &cfg)
	loginFlags(fs, &cfg)                // --login-backoff-*: password login (loginflags.go)
	shellFlags(fs, &cfg.Shell)          // --shell-*: the terminals' limits (shellflags.go)
	recordingFlags(fs, &cfg.Recordings) // --shell-record-input, --recording-*: recordings (recordingflags.go)
	fleetFlags(fs, &cfg.Fleet)          // --fleet-*: the Fleet Monitor (fleetflags.go)
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *tokenFile != "" {
		if cfg.Token != "" {
			return errors.New("--token and --token-file: give one")
		}
		tok, err := auth.ReadTokenFile(*tokenFile)
		if err != nil {
			return err
		}
		cfg.Token = tok
	}
	if cfg.Token == "" {
		cfg.Token = os.Getenv("WSDECK_TOKEN") // kept out of ps
	}
	if cfg.Engine.StateDir == "" {
		return errors.New("no home directory for the state: give --state-dir")
	}
	if *hstsMaxAge <= 0 {
		cfg.HSTSMaxAge = -1 // none
	} else {
		cfg.HSTSMaxAge = *hstsMaxAge
	}
	log, err := server.NewLogger(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log
	if *execOn {
		policy, err := batch.ParsePolicy(*allowHosts)
		if err != nil {
			return err
		}
		if *auditLog != "" {
			f, err := audit.OpenFile(*auditLog)
			if err != nil {
				return fmt.Errorf("%w (--audit-log FILE to put it elsewhere, --exec=false to serve no Exec)", err)
			}
			defer f.Close()
			execOpts.AuditOptions.Export = f
		}
		execOpts.Policy, execOpts.Logger = policy, log
		cfg.Exec = &execOpts
		log.Info("exec ready", "allow_hosts", policy.String(), "audit_export", *auditLog)
	}
	return server.Run(ctx, cfg)
}
