package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// sessionsBucket is the engine's bucket of login sessions.
const sessionsBucket = "sessions"

// openEngine opens the engine that s.cfg.Engine names and the sessions
// bucket in it. On error nothing is left open.
func (s *Server) openEngine() error {
	ecfg := s.cfg.Engine
	if ecfg.Logger == nil {
		ecfg.Logger = s.log
	}
	// Embedded, only reading back a large store takes time; external, the
	// engine's ConnectTimeout bounds the connection and its JetStreamWait
	// the wait for a cluster that is starting too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+max(ecfg.JetStreamWait, engine.DefaultJetStreamWait))
	defer cancel()
	eng, err := engine.Open(ctx, ecfg)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	ttl := s.cfg.SessionMax
	if ttl <= 0 {
		ttl = DefaultSessionMax
	}
	bucket, err := eng.Bucket(ctx, engine.BucketConfig{Name: sessionsBucket, TTL: ttl})
	if err != nil {
		s.shutdownEngine(eng)
		return fmt.Errorf("server: sessions: %w", err)
	}
	s.engine = eng
	s.sessions = auth.NewKVStore(bucket, s.cfg.MaxSessions)
	return nil
}

// close releases what New acquired, for a Server that will not Serve.
func (s *Server) close() {
	s.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	s.shutdownEndpoints(ctx)
	s.shutdownEngine(s.engine)
}

// shutdownEngine shuts eng down within the shutdown timeout.
func (s *Server) shutdownEngine(eng *engine.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := eng.Shutdown(ctx); err != nil {
		s.log.Warn("shutdown: engine", "err", err)
	}
}

// watchSessionEnds closes this node's sockets of each session that ends
// on any node, until the sockets' context is done; the returned function
// waits for that.
func (s *Server) watchSessionEnds() (wait func()) {
	stop, err := s.sessions.WatchEnds(s.sockCtx, s.endSession)
	if err != nil {
		// The periodic check (watchSessions) still closes them, later.
		s.log.Warn("sessions: not watching for sessions ended elsewhere", "err", err)
		return func() {}
	}
	return stop
}

// healthz answers 200 "ok" when the engine answers within
// DefaultHealthTimeout, else 503 with a one-line reason. The reason names
// no server: /healthz is open to all.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), DefaultHealthTimeout)
	defer cancel()
	err := s.engine.Health(ctx)
	if err == nil {
		w.Write([]byte("ok\n"))
		return
	}
	reason := "engine: not answering"
	switch {
	case errors.Is(err, engine.ErrDisconnected):
		reason = "engine: not connected to NATS"
	case errors.Is(err, engine.ErrUnavailable):
		reason = "engine: JetStream not answering"
	case errors.Is(err, engine.ErrClosed):
		reason = "engine: shut down"
	}
	s.log.Debug("healthz: engine unhealthy", "err", err) // the engine logs its own losses
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(reason + "\n"))
}
