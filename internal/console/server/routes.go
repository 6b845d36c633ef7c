package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/web"
	"github.com/wsdeck/wsdeck/websocket"
)

// routes returns the console's handler: /healthz open to all, /logout and
// the login form open to the page's own origin, the login page and its
// style sheet open to all, everything else behind the token or a login
// session, and all but /healthz only for the hosts the console answers to.
func (s *Server) routes() http.Handler {
	private := http.NewServeMux()
	private.Handle("GET /metrics", s.metrics.Handler())
	for _, r := range s.endpoints {
		h := s.socketHandler(r.name, r.ep)
		private.Handle("GET /ws/"+r.name, h)
		private.Handle("CONNECT /ws/"+r.name, h) // over HTTP/2 (RFC 8441)
	}
	private.HandleFunc("GET /api/me", s.apiMe)
	private.HandleFunc("GET /api/sessions", s.apiSessions)
	private.Handle("POST /api/sessions/{key}/revoke", s.apiRevoke())
	private.HandleFunc("GET /api/recordings", s.apiRecordings) // recordings.go
	private.HandleFunc("GET /api/recordings/{id}", s.apiRecording)
	private.HandleFunc("GET /api/recordings/{id}/cast", s.apiRecordingCast)
	private.Handle("GET /", web.Handler())

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", s.healthz)
	root.Handle("POST /logout", s.guard.Logout())
	s.oidcRoutes(root) // GET /login/oidc and its callback, when configured (oidc.go)
	// The login page and what it needs, open to all (login.go).
	root.HandleFunc("GET "+auth.LoginPath, s.loginPageHandler)
	root.Handle("POST "+auth.LoginPath, s.loginHandler())
	root.Handle("GET /login.css", web.Handler())
	root.Handle("GET /favicon.ico", web.Handler())
	root.Handle("/", s.guard.Middleware(private, s.refused))
	return s.securityHeaders(s.logRequests(s.checkHost(root)))
}

// refused logs and counts a request refused for its credentials. Neither
// the query nor the headers are logged: they may hold a token.
func (s *Server) refused(r *http.Request, why auth.Result) {
	s.metrics.Refused(s.endpointOf(r), "auth")
	s.log.Info("unauthorized", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "credentials", why.String())
}

// endpointOf names the endpoint of a request for the metrics.
func (s *Server) endpointOf(r *http.Request) string {
	if r.URL.Path == "/metrics" {
		return "metrics"
	}
	for _, e := range s.endpoints {
		if r.URL.Path == "/ws/"+e.name {
			return e.name
		}
	}
	return "page"
}

// socketHandler returns the handler of a WebSocket endpoint: the Origin
// check, the caps on connections, then the handshake, then ep, which
// serves the connection from a goroutine of its own once the handler has
// returned (see serveSocket). A plain GET (no Upgrade), as the page sends
// to learn why a socket failed, gets the same checks and then 426 Upgrade
// Required.
func (s *Server) socketHandler(name string, ep socket.Endpoint) http.Handler {
	em := s.metrics.Endpoint(name)
	accept := &websocket.AcceptOptions{
		ConnOptions: websocket.ConnOptions{
			MaxMessageSize: s.cfg.MaxMessageSize,
			CloseTimeout:   s.cfg.CloseTimeout,
			// Compressed (Exec output and monitor backfills shrink
			// well), without context takeover: per-message compressors
			// come from a pool, so a thousand idle chat members hold no
			// compression state.
			Compression: websocket.CompressionOptions{Enabled: true, NoContextTakeover: true},
		},
		OriginPatterns: s.cfg.AllowOrigins,
	}
	sockOpts := s.cfg.Socket
	sockOpts.Metrics = em
	// Pinged from a timer of the socket's (no goroutine of the
	// websocket package's keepalive per connection).
	sockOpts.PingInterval = max(s.cfg.PingInterval, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkOrigin(r, s.cfg.AllowOrigins); err != nil {
			s.metrics.Refused(name, "origin")
			s.log.Info("websocket handshake refused", "endpoint", name, "remote", r.RemoteAddr,
				"origin", r.Header.Get("Origin"), "reason", "origin", "err", err)
			http.Error(w, "wsdeck: "+err.Error(), http.StatusForbidden)
			return
		}
		client, session := clientOf(r)
		if !isUpgrade(r) {
			if limit := s.sockets.check(client); limit != "" {
				s.tooMany(w, r, name, limit)
				return
			}
			w.Header().Set("Upgrade", "websocket")
			w.Header().Set("Connection", "Upgrade")
			http.Error(w, "wsdeck: this is a WebSocket endpoint, and it would take this client's connection", http.StatusUpgradeRequired)
			return
		}
		if limit := s.sockets.acquire(client); limit != "" {
			s.tooMany(w, r, name, limit)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		ws, err := websocket.Accept(sw, r, accept)
		if err != nil {
			s.sockets.release(client)
			reason := "handshake"
			if sw.status == http.StatusForbidden { // Accept's only 403 is the Origin check
				reason = "origin"
			}
			s.metrics.Refused(name, reason)
			s.log.Info("websocket handshake refused", "endpoint", name, "remote", r.RemoteAddr,
				"origin", r.Header.Get("Origin"), "reason", reason, "err", err)
			return
		}
		id, _ := auth.IdentityFrom(r.Context())
		o := &openSocket{ws: ws, sc: socket.New(ws, sockOpts), session: session, client: client,
			token: session == "" && id.Method == auth.MethodToken}
		s.sockets.add(o)
		// A session that ended, or team mode that came on, between the
		// check and add found no socket to close: look again, now that
		// it is there.
		if session != "" {
			if err := s.guard.Touch(s.sockCtx, session); errors.Is(err, auth.ErrNoSession) {
				o.sc.Close(CloseSessionEnded, "session ended")
			}
		}
		if o.token && s.guard.TeamMode() {
			o.sc.Close(CloseSessionEnded, teamModeReason)
		}
		s.log.Info("websocket open", "endpoint", name, "remote", r.RemoteAddr, "proto", r.Proto)
		// The connection is served from a goroutine of its own, and this
		// handler returns: net/http lets go of the request's buffers, and
		// the new goroutine's stack, which the handler's deep calls never
		// grew, stays small while the socket idles (the websocket
		// package's doc, bench/RESULTS.md).
		if r.ProtoMajor == 2 {
			// Over HTTP/2 the socket is the request's stream, which
			// ends when the handler returns.
			s.serveSocket(name, ep, o, r)
			return
		}
		go s.serveSocket(name, ep, o, r)
	})
}

// serveSocket runs ep on the accepted socket o until it ends, then gives
// back its slot. r is the handshake request: its context is done by now,
// so ep must use its ctx (s.sockCtx, done at shutdown).
func (s *Server) serveSocket(name string, ep socket.Endpoint, o *openSocket, r *http.Request) {
	start, remote := time.Now(), r.RemoteAddr // r is not kept: it holds the handshake's headers
	var err error
	if raw, ok := ep.(rawEndpoint); ok {
		err = raw.ServeWS(s.sockCtx, o.ws, r) // o.sc is never run: it closes o.ws when its session ends
	} else {
		err = ep.ServeSocket(s.sockCtx, o.sc, r)
	}
	s.sockets.remove(o)
	s.sockets.release(o.client)
	s.closed(name, remote, start, err)
}

// rawEndpoint is an endpoint that speaks its own frames (binary ones:
// the terminals) on the accepted connection instead of socket's JSON.
type rawEndpoint interface {
	ServeWS(ctx context.Context, ws *websocket.Conn, r *http.Request) error
}

// closed logs the end of a socket. It is apart from serveSocket, whose
// frame is on the stack of every idle socket, to keep that frame small.
//
//go:noinline
func (s *Server) closed(name, remote string, start time.Time, err error) {
	s.log.Info("websocket closed", "endpoint", name, "remote", remote,
		"duration", time.Since(start).Round(time.Millisecond), "why", err)
}

// tooMany refuses a handshake (or a probe) over a cap with 503 and
// Retry-After; the Wsdeck-Limit header says which cap, for the page.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, endpoint, limit string) {
	s.metrics.Refused(endpoint, limit)
	h := w.Header()
	h.Set("Retry-After", "5")
	h.Set("Cache-Control", "no-store")
	if limit == limitPerClient {
		s.log.Info("websocket refused: too many connections from one client", "endpoint", endpoint,
			"remote", r.RemoteAddr, "max_conns_per_client", s.cfg.MaxConnsPerClient)
		h.Set("Wsdeck-Limit", "client")
		http.Error(w, fmt.Sprintf("wsdeck: too many connections from you (at most %d: --max-conns-per-client); close other tabs of this console",
			s.cfg.MaxConnsPerClient), http.StatusServiceUnavailable)
		return
	}
	s.log.Warn("websocket refused: too many connections", "endpoint", endpoint, "remote", r.RemoteAddr, "max_conns", s.cfg.MaxConns)
	h.Set("Wsdeck-Limit", "total")
	http.Error(w, fmt.Sprintf("wsdeck: too many connections in all (at most %d: --max-conns)", s.cfg.MaxConns), http.StatusServiceUnavailable)
}

// isUpgrade reports whether r asks for a WebSocket: "Connection: Upgrade"
// and "Upgrade: websocket". Accept checks the rest of the handshake.
func isUpgrade(r *http.Request) bool {
	if r.ProtoMajor == 2 { // an RFC 8441 extended CONNECT
		return r.Method == http.MethodConnect && strings.EqualFold(r.Header.Get(":protocol"), "websocket")
	}
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection, to hijack it.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs each request at debug level: method, path (never the
// query, which may hold a token), status and time.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 { // hijacked: a WebSocket, logged on its own
			sw.status = http.StatusSwitchingProtocols
		}
		s.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"remote", r.RemoteAddr, "took", time.Since(start).Round(time.Microsecond))
	})
}
