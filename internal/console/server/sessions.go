package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/auth"
)

// sessionCheckInterval returns how often open sockets' sessions are
// checked: often enough that an open socket keeps its session alive (it
// counts as a use), and that one whose session ended elsewhere or reached
// its maximum age is closed within half a minute.
func sessionCheckInterval(idle time.Duration) time.Duration {
	return min(max(idle/4, time.Second), 30*time.Second)
}

// watchSessions runs checkSessions every sessionCheckInterval until the
// sockets' context is done; the channel is closed when it has stopped.
func (s *Server) watchSessions() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(sessionCheckInterval(s.guard.Idle()))
		defer t.Stop()
		for {
			select {
			case <-s.sockCtx.Done():
				return
			case <-t.C:
				s.checkSessions(s.sockCtx)
			}
		}
	}()
	return done
}

// checkSessions records a use of each session with open sockets, closes
// the sockets of those that ended, and sweeps the expired sessions away.
func (s *Server) checkSessions(ctx context.Context) {
	for _, key := range s.sockets.sessionKeys() {
		switch err := s.guard.Touch(ctx, key); {
		case errors.Is(err, auth.ErrNoSession):
			s.endSession(key)
		case err != nil:
			s.log.Warn("sessions: checking a session", "err", err)
		}
	}
	if err := s.guard.Sweep(ctx); err != nil {
		s.log.Warn("sessions: sweeping", "err", err)
	}
}

// endSession closes the sockets of the session with key (auth.Options.OnEnd).
func (s *Server) endSession(key string) {
	if n := s.sockets.closeSession(key); n > 0 {
		s.log.Info("session ended: closing its sockets", "session", auth.Session{Key: key}.ShortKey(), "sockets", n)
	}
}

// sessionCount returns how many sockets of the session with key are open
// on this node.
func (ss *socketSet) sessionCount(key string) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.sessions[key])
}

// clientOf returns who r comes from, for the per-client cap: its login
// session, or its remote address for a bearer-token client; and the
// session's key, "" for none.
func clientOf(r *http.Request) (client, session string) {
	if sess, ok := auth.SessionFrom(r.Context()); ok {
		return "session " + sess.Key, sess.Key
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr " + host, ""
}
