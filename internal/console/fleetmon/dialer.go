package fleetmon

import (
	"context"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// dialerCheck is how often the shared Dialer's files are looked at again
// (their modification times), at most.
const dialerCheck = 5 * time.Second

// sharedDialer dials every host with one batch.Dialer: the keys, the
// known_hosts and the ssh config are loaded once for all sessions, not
// once per session, and each connection keeps a reference to them (for
// re-keying), not a copy. It loads them again when one of those files
// changed (an operator adding a host key, --accept-new recording one).
// Safe for concurrent use.
type sharedDialer struct {
	cfg   batch.Config
	check time.Duration // how often the files are looked at: dialerCheck

	mu      sync.Mutex
	d       *batch.Dialer // guarded by mu; nil until the first dial, or after close
	checked time.Time     // guarded by mu: when d's files were last looked at
	closed  bool          // guarded by mu
}

// dial connects to h with the current Dialer.
func (s *sharedDialer) dial(ctx context.Context, h hostexpr.Host) (*batch.Conn, error) {
	d, err := s.dialer()
	if err != nil {
		return nil, err
	}
	return d.DialConn(ctx, h)
}

func (s *sharedDialer) dialer() (*batch.Dialer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrShutdown
	}
	now := time.Now()
	if s.d != nil && now.Sub(s.checked) >= s.check {
		s.checked = now
		if s.d.Changed() {
			// A dial in flight with the old one may lose the agent's
			// keys; it is dialled again after its backoff.
			s.d.Close()
			s.d = nil
		}
	}
	if s.d == nil {
		d, err := batch.NewDialer(s.cfg)
		if err != nil {
			return nil, err
		}
		s.d, s.checked = d, now
	}
	return s.d, nil
}

// close releases the Dialer; later dials fail.
func (s *sharedDialer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.d != nil {
		s.d.Close()
		s.d = nil
	}
}
