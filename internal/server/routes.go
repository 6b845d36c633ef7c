package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"wsdeck/internal/auth"
	"wsdeck/internal/socket"
	"wsdeck/internal/web"
	"wsdeck/websocket"
)

// routes returns the console's handler: /healthz open to all, everything
// else behind the token.
func (s *Server) routes() http.Handler {
	private := http.NewServeMux()
	private.Handle("GET /metrics", s.metrics.Handler())
	private.Handle("GET /ws/chat", s.socketHandler("chat", s.hub))
	private.Handle("GET /ws/monitor", s.socketHandler("monitor", s.monitor))
	exec := s.cfg.Exec
	if exec == nil {
		exec = notConfigured{}
	}
	private.Handle("GET /ws/exec", s.socketHandler("exec", exec))
	private.Handle("GET /", web.Handler())

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
	root.Handle("/", s.guard.Middleware(private, s.refused))
	return securityHeaders(s.logRequests(root))
}

// refused logs and counts a request refused for its credentials. Neither
// the query nor the headers are logged: they may hold a token.
func (s *Server) refused(r *http.Request, why auth.Result) {
	s.metrics.Refused(endpointOf(r), "auth")
	s.log.Info("unauthorized", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "credentials", why.String())
}

// endpointOf names the endpoint of a request for the metrics.
func endpointOf(r *http.Request) string {
	switch r.URL.Path {
	case "/ws/chat":
		return "chat"
	case "/ws/monitor":
		return "monitor"
	case "/ws/exec":
		return "exec"
	case "/metrics":
		return "metrics"
	}
	return "page"
}

// socketHandler returns the handler of a WebSocket endpoint: the cap on
// connections, then the handshake with its Origin check, then ep.
func (s *Server) socketHandler(name string, ep socket.Endpoint) http.Handler {
	em := s.metrics.Endpoint(name)
	accept := &websocket.AcceptOptions{
		ConnOptions: websocket.ConnOptions{
			MaxMessageSize: s.cfg.MaxMessageSize,
			CloseTimeout:   s.cfg.CloseTimeout,
			PingInterval:   max(s.cfg.PingInterval, 0),
			// Per-message compressors come from a pool: a thousand idle
			// chat members hold no compression state.
			Compression: websocket.CompressionOptions{NoContextTakeover: true},
		},
		OriginPatterns: s.cfg.AllowOrigins,
	}
	sockOpts := s.cfg.Socket
	sockOpts.Metrics = em
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.sockets.acquire() {
			s.metrics.Refused(name, "max_conns")
			s.log.Warn("websocket refused: too many connections", "endpoint", name, "remote", r.RemoteAddr, "max_conns", s.cfg.MaxConns)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "wsdeck: too many connections", http.StatusServiceUnavailable)
			return
		}
		defer s.sockets.release()
		sw := &statusWriter{ResponseWriter: w}
		ws, err := websocket.Accept(sw, r, accept)
		if err != nil {
			reason := "handshake"
			if sw.status == http.StatusForbidden { // Accept's only 403 is the Origin check
				reason = "origin"
			}
			s.metrics.Refused(name, reason)
			s.log.Info("websocket handshake refused", "endpoint", name, "remote", r.RemoteAddr,
				"origin", r.Header.Get("Origin"), "reason", reason, "err", err)
			return
		}
		s.sockets.add(ws)
		defer s.sockets.remove(ws)
		start := time.Now()
		s.log.Info("websocket open", "endpoint", name, "remote", r.RemoteAddr)
		err = ep.ServeSocket(s.sockCtx, socket.New(ws, sockOpts), r)
		s.log.Info("websocket closed", "endpoint", name, "remote", r.RemoteAddr,
			"duration", time.Since(start).Round(time.Millisecond), "why", err)
	})
}

// notConfigured is the exec endpoint until Exec is set up: every
// connection gets a not_configured error, and so does every message.
type notConfigured struct{}

func (notConfigured) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	err := socket.Errorf(socket.CodeNotConfigured, "Exec is not configured on this server")
	c.SendError("", "", err)
	return c.Run(ctx, func(socket.Message) error { return err })
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

// securityHeaders sets the headers every response carries: no sniffing,
// no framing (clickjacking), no referrer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

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
