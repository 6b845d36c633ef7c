// Package server is the wsdeck console: one HTTP server with the page, the
// chat, monitor and exec WebSocket endpoints, /metrics and /healthz, secure
// by default.
//
// Everything but /healthz needs the token (package auth): a random one is
// made at start unless Config.Token is set, and Run prints the login URL.
// Every WebSocket handshake is checked for its Origin (scheme, host and
// port), and refused (never accepted and then closed) when it fails that,
// the token, or the connection cap. Shutdown closes every socket with 1001
// and returns within a few seconds.
package server

import (
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
	"sync"
	"time"

	"wsdeck/internal/auth"
	"wsdeck/internal/chat"
	"wsdeck/internal/metrics"
	"wsdeck/internal/monitor"
	"wsdeck/internal/socket"
	"wsdeck/websocket"
)

// Defaults for Config.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultMaxConns        = 1000
	DefaultMaxMessageSize  = 64 << 10
	DefaultCloseTimeout    = 3 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultPingInterval    = 30 * time.Second
	DefaultSampleInterval  = monitor.DefaultInterval
	DefaultMonitorHistory  = monitor.DefaultHistory
	maxHeaderBytes         = 16 << 10
)

// Config configures the console. The zero value is a console on
// 127.0.0.1:8080 with a random token and the defaults below.
type Config struct {
	// Addr is the address to listen on; "" means DefaultAddr. Listener,
	// if set, is used instead (tests, socket activation).
	Addr     string
	Listener net.Listener

	// Token is the secret that opens the console; "" means a random one.
	Token string

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

	Chat    chat.Options
	Monitor monitor.Options
	// Exec serves /ws/exec; nil answers every connection with a
	// not_configured error message. If it has a Shutdown(ctx) error
	// method (a *jobs.Service does), shutdown calls it, so that a running
	// job is cancelled and its end recorded.
	Exec socket.Endpoint

	// Logger receives the logs; nil means slog.Default. Tokens never go
	// to it.
	Logger *slog.Logger
	// Out receives the login URL; nil means os.Stdout.
	Out io.Writer
}

// Server is a console listening on its address. Start it with Serve.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	tls     bool
	token   string
	guard   *auth.Guard
	metrics *metrics.Registry
	hub     *chat.Hub
	monitor *monitor.Monitor
	http    *http.Server

	// Sockets get sockCtx, which is cancelled at shutdown.
	sockCtx    context.Context
	stopSocket context.CancelFunc
	sockets    socketSet
}

// New listens on cfg.Addr (or takes cfg.Listener) and sets the console up.
// Nothing is served until Serve.
func New(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, log: cfg.Logger, token: cfg.Token}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.cfg.MaxConns <= 0 {
		s.cfg.MaxConns = DefaultMaxConns
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
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("server: TLS needs both a certificate and a key")
	}
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("server: loading the TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.tls = true
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

	guard, err := auth.New(s.token, auth.Options{CookieName: cookieName(s.ln.Addr()), Secure: s.tls})
	if err != nil {
		s.ln.Close()
		return nil, err
	}
	s.guard = guard
	s.metrics = metrics.New()
	s.hub = chat.NewHub(cfg.Chat)
	monOpts := cfg.Monitor
	monOpts.OnSample = s.metrics.SampleTaken
	if monOpts.Logger == nil {
		monOpts.Logger = s.log
	}
	s.monitor = monitor.New(monOpts)
	s.sockCtx, s.stopSocket = context.WithCancel(context.Background())
	s.sockets.init(s.cfg.MaxConns)

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true) // WebSocket needs HTTP/1.1: no HTTP/2 over TLS
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

// Monitor returns the monitor.
func (s *Server) Monitor() *monitor.Monitor { return s.monitor }

// Run starts a console with cfg, prints its login URL, and serves until ctx
// is done.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	out := cfg.Out
	if out == nil {
		out = os.Stdout
	}
	fmt.Fprintf(out, "wsdeck console: open %s\n", s.LoginURL())
	return s.Serve(ctx)
}

// Serve serves until ctx is done, then shuts down: it stops accepting,
// closes every socket with 1001 (going away), waits up to
// Config.ShutdownTimeout for them, cuts those still open, and returns nil.
// An error serving is returned at once.
func (s *Server) Serve(ctx context.Context) error {
	s.log.Info("console listening", "url", s.URL(), "tls", s.tls, "max_conns", s.cfg.MaxConns)
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(s.ln) }()
	select {
	case err := <-errc:
		s.stopSocket()
		return err
	case <-ctx.Done():
	}
	start := time.Now()
	s.log.Info("shutting down", "sockets", s.sockets.count())
	deadline, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.stopSocket() // every socket starts its close handshake with 1001
	execDone := make(chan struct{})
	go func() {
		defer close(execDone)
		if sh, ok := s.cfg.Exec.(interface{ Shutdown(context.Context) error }); ok {
			if err := sh.Shutdown(deadline); err != nil {
				s.log.Warn("shutdown: exec", "err", err)
			}
		}
	}()
	if err := s.http.Shutdown(deadline); err != nil {
		s.http.Close()
	}
	if !s.sockets.wait(deadline) {
		n := s.sockets.cutAll()
		s.log.Warn("shutdown: cut sockets that did not close in time", "sockets", n)
		s.sockets.wait(context.Background())
	}
	<-execDone
	<-errc // http.ErrServerClosed
	s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// socketSet tracks the open WebSocket connections: the cap, and shutdown's
// wait and cut.
type socketSet struct {
	mu    sync.Mutex
	max   int
	conns map[*websocket.Conn]struct{} // guarded by mu
	n     int                          // guarded by mu: slots taken, handshakes in progress included
	idle  chan struct{}                // guarded by mu: closed when n drops to 0; nil while n is 0
}

func (ss *socketSet) init(max int) {
	ss.max = max
	ss.conns = make(map[*websocket.Conn]struct{})
}

// acquire takes a slot, reporting false if all are taken.
func (ss *socketSet) acquire() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.n >= ss.max {
		return false
	}
	if ss.n == 0 {
		ss.idle = make(chan struct{})
	}
	ss.n++
	return true
}

func (ss *socketSet) release() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.n--
	if ss.n == 0 {
		close(ss.idle)
		ss.idle = nil
	}
}

func (ss *socketSet) add(c *websocket.Conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.conns[c] = struct{}{}
}

func (ss *socketSet) remove(c *websocket.Conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.conns, c)
}

func (ss *socketSet) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.conns)
}

// wait waits until no slot is taken, or ctx is done, and reports which.
func (ss *socketSet) wait(ctx context.Context) bool {
	ss.mu.Lock()
	idle := ss.idle
	ss.mu.Unlock()
	if idle == nil {
		return true
	}
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// cutAll closes every open connection without a close handshake.
func (ss *socketSet) cutAll() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for c := range ss.conns {
		c.CloseNow()
	}
	return len(ss.conns)
}
