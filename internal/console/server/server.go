// Package server is the wsdeck console: one HTTP server with the page, the
// chat, monitor and exec WebSocket endpoints, /metrics and /healthz, secure
// by default.
//
// Every request but /healthz must name a host the console serves (loopback
// names, IP addresses, Config.AllowHosts), against DNS rebinding, and needs
// the token or a login session (package auth): a random token is made at
// start unless Config.Token is set, and Run prints the login URL. Every
// WebSocket handshake is checked, in this order, for its Host (403), its
// credentials (401), its Origin (403) and the connection caps, in all and
// per client (503), and refused (never accepted and then closed) when it
// fails one; a plain GET of a WebSocket endpoint runs the same checks and
// then answers 426, so that a page can learn why its socket was refused.
// A socket whose session ends, on this node or another, is closed with
// CloseSessionEnded. Shutdown closes every socket with 1001 and returns
// within a few seconds.
//
// The console's state (the login sessions) lives in the engine (package
// engine, NATS JetStream) that Config.Engine names: New opens it, and
// Serve shuts it down after everything that uses it. /healthz reports it.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/chat"
	"github.com/wsdeck/wsdeck/internal/console/fleetmon"
	"github.com/wsdeck/wsdeck/internal/console/jobs"
	"github.com/wsdeck/wsdeck/internal/console/metrics"
	"github.com/wsdeck/wsdeck/internal/console/monitor"
	"github.com/wsdeck/wsdeck/internal/console/oidc"
	"github.com/wsdeck/wsdeck/internal/console/recording"
	"github.com/wsdeck/wsdeck/internal/console/shell"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// Defaults for Config.
const (
	DefaultAddr     = "127.0.0.1:8080"
	DefaultMaxConns = 1000
	// DefaultMaxConnsPerClient lets one person keep ten tabs of the
	// console open, three sockets each, with room for reconnects.
	DefaultMaxConnsPerClient = 40
	DefaultSessionIdle       = auth.DefaultIdle
	DefaultSessionMax        = auth.DefaultMax
	DefaultMaxSessions       = auth.DefaultMaxSessions
	// DefaultHSTSMaxAge is the Strict-Transport-Security max-age under
	// TLS: a year, as is usual.
	DefaultHSTSMaxAge      = 365 * 24 * time.Hour
	DefaultMaxMessageSize  = 64 << 10
	DefaultCloseTimeout    = 3 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultPingInterval    = 30 * time.Second
	DefaultSampleInterval  = monitor.DefaultInterval
	DefaultMonitorHistory  = monitor.DefaultHistory
	// DefaultHealthTimeout bounds /healthz's question to the engine.
	DefaultHealthTimeout = 2 * time.Second
	maxHeaderBytes       = 16 << 10
)

// Config configures the console. The zero value is a console on
// 127.0.0.1:8080 with a random token, its state in an embedded engine
// under the default state directory, and the defaults below.
type Config struct {
	// Addr is the address to listen on; "" means DefaultAddr. Listener,
	// if set, is used instead (tests, socket activation).
	Addr     string
	Listener net.Listener

	// Token is the secret that opens the console; "" means a random one.
	Token string
	// PrintURL says whether Run prints the login URL, which holds the
	// token, to Out. URLFile, if set, receives it in a file of mode 0600.
	PrintURL PrintURL
	URLFile  string

	// Engine is the engine that keeps the console's state (sessions now):
	// its zero value is an embedded NATS server with its files under the
	// default state directory. New opens it; Serve shuts it down last.
	Engine engine.Config

	// SessionIdle ends a login session unused for that long (an open
	// socket is a use); 0 means DefaultSessionIdle. SessionMax ends it
	// that long after the login, and is the TTL of the engine's sessions
	// bucket; 0 means DefaultSessionMax. MaxSessions bounds the sessions
	// kept (the least recently used goes first); 0 means
	// DefaultMaxSessions.
	SessionIdle, SessionMax time.Duration
	MaxSessions             int

	// AllowHosts are the names, beyond loopback names and IP addresses,
	// that the console answers to in the Host header: "console.example.com",
	// ".example.com" (the domain and its subdomains), or "*" (any: no
	// check). A request for another host is refused with 403.
	AllowHosts []string
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header
	// sent under TLS; 0 means DefaultHSTSMaxAge, negative sends none.
	HSTSMaxAge time.Duration

	// TLSCert and TLSKey are PEM files; with both, the console serves
	// HTTPS (and wss://) only.
	TLSCert, TLSKey string

	// AllowOrigins widen the WebSocket Origin check beyond the console's
	// own origin: patterns as websocket.AcceptOptions.OriginPatterns takes
	// them ("https://*.example.com:8443", or a host[:port] pattern).
	AllowOrigins []string

	// MaxConns caps the WebSocket connections open at once; a handshake
	// over it is refused with 503. 0 means DefaultMaxConns.
	MaxConns int
	// MaxConnsPerClient caps those of one client: a login session, or a
	// remote address for bearer-token clients. 0 means
	// DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	// MaxMessageSize is the largest WebSocket message a client may send;
	// a larger one fails its connection with 1009. 0 means
	// DefaultMaxMessageSize.
	MaxMessageSize int64
	// Socket holds each connection's send queue, message rate and write
	// timeout (its Metrics is set by the server).
	Socket socket.Options
	// CloseTimeout bounds a close handshake. 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// PingInterval is how often an idle client is pinged, to find dead
	// connections. 0 means DefaultPingInterval; negative turns it off.
	PingInterval time.Duration
	// ShutdownTimeout bounds shutdown, after which the sockets still open
	// are cut. 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// NodeName names this node in the Monitor (its samples, the node
	// list) and in the jobs' records, unless Monitor.Node or Exec.Node
	// says otherwise: 1 to 64 of A-Z, a-z, 0-9, - and _
	// (monitor.CheckNode). "" means the host name and 4 random
	// characters (monitor.DefaultNode).
	NodeName string

	// Chat, Monitor and Exec configure the endpoints, which New builds
	// (endpoints.go). A nil Exec serves no jobs: /ws/exec answers every
	// connection with a not_configured error message.
	Chat    chat.Options
	Monitor monitor.Options
	Exec    *jobs.Options

	// Shell configures the terminals (/ws/shell, package shell): grace
	// time, scrollback, watermarks, caps. Its SSH settings and ceiling
	// are Exec's; Node, Roles, Audit and Logger are set by the server.
	Shell shell.Options

	// Fleet configures the Fleet Monitor (/ws/fleet, package fleetmon):
	// its interval, history, stale and down times, caps. Its SSH settings
	// and ceiling are Exec's; Node, Roles and Logger are set by the server.
	Fleet fleetmon.Options

	// Recordings configures the recordings of terminal sessions
	// (recordings.go): input or not, size cap, retention.
	Recordings recording.Options

	// Roles and host groups (team mode; roles.go). PolicyFile is the
	// policy file (--policy, package policy); "" means none: users keep
	// their own roles, and operators and admins reach every host within
	// Exec's Policy (--allow-hosts). Each receive on PolicyReload (cmd
	// sends SIGHUP there) reads the file again: a good one applies to the
	// next message of every socket, a bad one keeps the policy in force.
	// Every read is audited, with the file's SHA-256.
	PolicyFile   string
	PolicyReload <-chan os.Signal

	// Single sign-on with OpenID Connect (oidc.go): non-nil turns it on,
	// and with it team mode (the token opens nothing). The server sets
	// its Role (the policy's bindings of users and groups), StartSession,
	// Audit, Logger, Secure and cookie name; a RedirectURL of "" means
	// this console's URL with oidc.CallbackPath.
	OIDC *oidc.Config

	// Team mode: password login (login.go, team.go). LoginBackoff slows
	// failed logins (--login-backoff-*); its zero value means the users
	// package's defaults.
	LoginBackoff users.BackoffOptions
	// Require2FA says who must have a second factor (wsdeck user totp)
	// to log in with a password: "" (Require2FANone) no one,
	// Require2FAAdmins or Require2FAAll.
	Require2FA string
	// SecretKeyFile holds the key that seals the users' second-factor
	// secrets in the engine (users.LoadKey): every node of a console
	// needs the same one. "" means DefaultSecretKeyFile in the engine's
	// state directory. A missing file is made with a new key.
	SecretKeyFile string

	// Logger receives the logs; nil means slog.Default. Tokens never go
	// to it.
	Logger *slog.Logger
	// Out receives the login URL; nil means os.Stdout.
	Out io.Writer

	// now is the sessions' clock, for tests; nil means time.Now.
	now func() time.Time
	// userOptions, for tests, sets the users store's options (cheaper
	// hashing); nil means the defaults.
	userOptions *users.Options
	// wrapEndpoint, for tests, wraps each endpoint as it is built.
	wrapEndpoint func(name string, ep Endpoint) Endpoint
}

// PrintURL says whether Run prints the login URL.
type PrintURL int

const (
	// PrintURLAuto prints it when the token was made at start (no one
	// else knows it), not when the user chose it.
	PrintURLAuto PrintURL = iota
	PrintURLAlways
	PrintURLNever
)

// Server is a console listening on its address. Start it with Serve.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ln       net.Listener
	tls      bool
	token    string
	tokenOK  bool // the user chose the token: Run prints no login URL unasked
	hosts    hostPolicy
	hsts     string // the Strict-Transport-Security header; "" for none
	engine   *engine.Engine
	sessions *auth.KVStore
	guard    *auth.Guard
	metrics  *metrics.Registry
	// endpoints are the WebSocket endpoints, in the order they were
	// built and are shut down.
	endpoints []route
	hub       *chat.Hub
	monitor   *monitor.Monitor
	roles     *roles // the roles' policy in force (roles.go)
	shell     *shell.Registry
	// recordings keeps the terminal sessions' recordings (recordings.go).
	recordings *recording.Store
	team       *team // users, login backoff, audit (team.go)
	http       *http.Server

	// rp is the relying party of single sign-on, or nil (oidc.go).
	rp *oidc.RP

	// Sockets get sockCtx, which is cancelled at shutdown.
	sockCtx    context.Context
	stopSocket context.CancelFunc
	sockets    socketSet
}

// New listens on cfg.Addr (or takes cfg.Listener), opens the engine and
// sets the console up. Nothing is served until Serve, which must be
// called to release the engine.
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, log: cfg.Logger, token: cfg.Token}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.cfg.MaxConns <= 0 {
		s.cfg.MaxConns = DefaultMaxConns
	}
	if s.cfg.MaxConnsPerClient <= 0 {
		s.cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if s.cfg.MaxMessageSize <= 0 {
		s.cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if s.cfg.CloseTimeout <= 0 {
		s.cfg.CloseTimeout = DefaultCloseTimeout
	}
	if s.cfg.PingInterval == 0 {
		s.cfg.PingInterval = DefaultPingInterval
	}
	if s.cfg.ShutdownTimeout <= 0 {
		s.cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	s.tokenOK = s.token != ""
	if s.token == "" {
		s.token = auth.NewToken()
	} else if len(s.token) < 16 {
		s.log.Warn("the token is short: anyone who can reach the console can guess it; leave --token out for a random one")
	}
	for _, p := range cfg.AllowOrigins {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("server: origin pattern %q: %w", p, err)
		}
	}
	if !s.tokenOK && cfg.PrintURL == PrintURLNever && cfg.URLFile == "" {
		return nil, errors.New("server: the token is random and the login URL neither printed nor written to a file: no one could log in")
	}
	if cfg.SessionIdle < 0 || cfg.SessionMax < 0 {
		return nil, errors.New("server: negative session lifetime")
	}
	hosts, err := newHostPolicy(cfg.AllowHosts, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.hosts = hosts
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("server: TLS needs both a certificate and a key")
	}
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("server: loading the TLS certificate: %w", err)
		}
		// h2 first: browsers that ask get HTTP/2, and their sockets come
		// as RFC 8441 streams when GODEBUG=http2xconnect=1 (websocket.Accept).
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"}}
		s.tls = true
		if maxAge := cmp.Or(cfg.HSTSMaxAge, DefaultHSTSMaxAge); maxAge > 0 {
			s.hsts = "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
		}
	}

	s.ln = cfg.Listener
	if s.ln == nil {
		addr := cfg.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		s.ln = ln
	}
	if tlsConfig != nil {
		s.ln = tls.NewListener(s.ln, tlsConfig)
	}
	if tcp, ok := s.ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && !s.tls {
		s.log.Warn("listening beyond loopback without TLS: the token and the session cookie cross the network in clear",
			"addr", s.ln.Addr().String())
	}

	if err := s.openEngine(); err != nil {
		s.ln.Close()
		return nil, err
	}
	s.sockets.init(s.cfg.MaxConns, s.cfg.MaxConnsPerClient)
	guard, err := auth.New(s.token, auth.Options{
		CookieName: cookieName(s.ln.Addr()),
		Secure:     s.tls,
		Idle:       cfg.SessionIdle,
		Max:        cfg.SessionMax,
		Store:      s.sessions,
		OnEnd:      s.endSession,
		OnLogout:   s.loggedOut,
		Now:        cfg.now,
	})
	if err != nil {
		s.close()
		return nil, err
	}
	s.guard = guard
	s.metrics = metrics.New()
	s.metrics.Engine(func() metrics.EngineStats { return metrics.EngineStats(s.engine.Stats()) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.openTeam(ctx); err != nil {
		s.close()
		return nil, err
	}
	if err := s.buildEndpoints(ctx); err != nil {
		s.close()
		return nil, err
	}
	if err := s.openOIDC(ctx); err != nil {
		s.close()
		return nil, err
	}
	s.sockCtx, s.stopSocket = context.WithCancel(context.Background())

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	// Under TLS, HTTP/2 for browsers that ask: with GODEBUG=http2xconnect=1
	// (cmd/wsdeck sets it by importing websocket/xconnect)
	// net/http takes WebSockets over it (RFC 8441), several on one
	// connection; without, it does not advertise them, and browsers open
	// their sockets over HTTP/1.1.
	protocols.SetHTTP2(s.tls)
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		Protocols:         protocols,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// cookieName puts the port in the session cookie's name: browsers send a
// host's cookies to all its ports, and two consoles on one host must not
// overwrite each other's.
func cookieName(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return "wsdeck-" + strconv.Itoa(tcp.Port)
	}
	return "wsdeck"
}

// URL returns the console's URL, without the token. An unspecified listen
// address (0.0.0.0, ::) is shown as loopback.
func (s *Server) URL() string {
	u := url.URL{Scheme: "http", Host: s.ln.Addr().String(), Path: "/"}
	if s.tls {
		u.Scheme = "https"
	}
	if tcp, ok := s.ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host := "127.0.0.1"
		if tcp.IP.To4() == nil {
			host = "::1"
		}
		u.Host = net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	}
	return u.String()
}

// LoginURL returns the URL that logs a browser in: URL with the token.
func (s *Server) LoginURL() string {
	return s.URL() + "?" + url.Values{"token": {s.token}}.Encode()
}

// Addr returns the address the console listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Metrics returns the console's metrics.
func (s *Server) Metrics() *metrics.Registry { return s.metrics }

// Hub returns the chat hub.
func (s *Server) Hub() *chat.Hub { return s.hub }

// Shell returns the terminals' registry.
func (s *Server) Shell() *shell.Registry { return s.shell }

// Monitor returns the monitor.
func (s *Server) Monitor() *monitor.Monitor { return s.monitor }

// Run starts a console with cfg, tells of its login URL as cfg.PrintURL and
// cfg.URLFile say, and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	if err := s.announce(); err != nil {
		s.close()
		return err
	}
	return s.Serve(ctx)
}

// Serve serves until ctx is done, then shuts down: it stops accepting,
// shuts the endpoints down in the order they were built (Exec first),
// closes every socket with 1001 (going away) once what it was sent is
// written, waits up to Config.ShutdownTimeout for them, cuts those still
// open, shuts the engine down last, and returns nil. An error serving is
// returned at once, after the same shutdown.
func (s *Server) Serve(ctx context.Context) error {
	s.log.Info("console listening", "url", s.URL(), "tls", s.tls, "max_conns", s.cfg.MaxConns,
		"max_conns_per_client", s.cfg.MaxConnsPerClient, "session_idle", s.guard.Idle())
	checked := s.watchSessions() // both end with sockCtx
	watchDone := s.watchSessionEnds()
	teamDone := s.watchTeam()
	// The engine goes last: sockets and Exec may use it to the end.
	defer func() {
		s.stopSocket()
		<-checked
		watchDone()
		teamDone()
		s.shutdownEngine(s.engine)
	}()
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	start := time.Now()
	s.log.Info("shutting down", "sockets", s.sockets.count())
	deadline, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	// No new connections, while the endpoints shut down, Exec first: its
	// running job is cancelled and its end sent to every viewer before
	// any socket closes, so that no page is left showing a job running on
	// a console that is gone. A socket closes once what it was sent is
	// written.
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if err := s.http.Shutdown(deadline); err != nil {
			s.http.Close()
		}
	}()
	s.shutdownEndpoints(deadline)
	s.stopSocket() // every socket starts its close handshake with 1001
	<-httpDone
	if !s.sockets.wait(deadline) {
		n := s.sockets.cutAll()
		s.log.Warn("shutdown: cut sockets that did not close in time", "sockets", n)
		s.sockets.wait(context.Background())
	}
	<-errc // http.ErrServerClosed
	s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
