package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Engine is a connection to NATS JetStream, and in embedded mode the NATS
// server itself. Its methods may be called from any goroutine.
type Engine struct {
	cfg Config
	log *slog.Logger

	srv    *server.Server // the embedded server; nil in external mode
	srvLog *serverLog     // the embedded server's logger
	lock   *os.File       // held on the state directory in embedded mode

	nc       *nats.Conn
	js       jetstream.JetStream
	ncClosed chan struct{} // closed once nc is closed
	replicas atomic.Int64  // default replicas for streams and buckets

	reconnMu sync.Mutex
	reconn   chan struct{} // closed at the next reconnect; guarded by reconnMu

	closing      atomic.Bool // set when Shutdown starts
	shutdownOnce sync.Once
	shutdownErr  error
}

// Open starts or connects to the engine that cfg names and returns once
// JetStream answers. In embedded mode it starts a NATS server with
// JetStream on cfg.StateDir and connects to it in-process; in external
// mode it connects to cfg.URLs, and fails with an error naming the
// servers (without their credentials) if they cannot be reached within
// cfg.ConnectTimeout. It gives up with ctx's error when ctx is done
// first. The caller must call Shutdown on the returned Engine.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "engine"),
		ncClosed: make(chan struct{}),
	}
	if cfg.embedded() {
		// Starting may take a while on a large store (JetStream reads it
		// back): only ctx bounds it.
		err = e.openEmbedded(ctx)
	} else {
		cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		err = e.openExternal(cctx)
		cancel()
	}
	if err == nil {
		err = e.awaitJetStream(ctx)
	}
	if err != nil {
		e.abort()
		return nil, err
	}
	e.replicas.Store(1)
	if !cfg.embedded() {
		e.replicas.Store(int64(min(3, e.clusterSize())))
	}
	attrs := []any{"mode", e.Mode(), "at", e.where(), "replicas", e.Replicas()}
	if u := e.ClientURL(); u != "" {
		attrs = append(attrs, "listen", u)
	}
	e.log.Info("engine ready", attrs...)
	return e, nil
}

// awaitJetStream returns once JetStream answers. A server of a cluster
// that has not elected its JetStream leader yet (wsdeck and NATS started
// together) is reached but does not answer: external, Open waits for it,
// up to Config.JetStreamWait, and says so once. A server that answers that it has
// no JetStream, or no server that answers for it, fails at once.
func (e *Engine) awaitJetStream(ctx context.Context) error {
	if !e.cfg.embedded() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.JetStreamWait)
		defer cancel()
	}
	for n := 0; ; n++ {
		actx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		_, err := e.js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		late := unanswered(err) || apiCode(err) == codeTemporarilyUnavailable
		if !late || e.cfg.embedded() || ctx.Err() != nil {
			return fmt.Errorf("JetStream at %s: %w", e.where(), e.classify(err))
		}
		if n == 0 {
			e.log.Warn("connected, but JetStream does not answer yet (is the cluster still electing its leader?): waiting for JetStream",
				"at", e.where(), "err", err)
		}
		if err := pause(ctx, min(n+1, maxNoResponders)); err != nil {
			return fmt.Errorf("JetStream at %s: %w", e.where(), e.classify(err))
		}
	}
}

// abort releases what a failed Open had acquired, without waiting on a
// context: the connection is closed rather than drained.
func (e *Engine) abort() {
	e.closing.Store(true)
	if e.nc != nil {
		e.nc.Close()
		<-e.ncClosed
	}
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	if e.lock != nil {
		e.lock.Close()
	}
}

// reconnected returns a channel closed when the connection is next
// re-established (perhaps to another server).
func (e *Engine) reconnected() <-chan struct{} {
	e.reconnMu.Lock()
	defer e.reconnMu.Unlock()
	if e.reconn == nil {
		e.reconn = make(chan struct{})
	}
	return e.reconn
}

func (e *Engine) noteReconnect() {
	e.reconnMu.Lock()
	defer e.reconnMu.Unlock()
	if e.reconn != nil {
		close(e.reconn)
		e.reconn = nil
	}
}

// Mode returns "embedded" or "external".
func (e *Engine) Mode() string {
	if e.cfg.embedded() {
		return "embedded"
	}
	return "external"
}

// Replicas returns how many copies streams and buckets keep when their
// config leaves Replicas zero: min(3, the servers in the cluster).
func (e *Engine) Replicas() int { return int(e.replicas.Load()) }

// ClientURL returns the URL other NATS clients (other wsdeck nodes) can
// use to reach the embedded server, or "" when it does not listen or the
// engine is external.
func (e *Engine) ClientURL() string {
	if e.srv == nil || e.cfg.ListenAddr == "" {
		return ""
	}
	return e.srv.ClientURL()
}

// StateDir returns the state directory in use, or "" in external mode.
func (e *Engine) StateDir() string {
	if !e.cfg.embedded() {
		return ""
	}
	return e.cfg.StateDir
}

// where names the engine for messages: the state directory, or the URLs
// without their user information.
func (e *Engine) where() string {
	if e.cfg.embedded() {
		return "embedded server in " + e.cfg.StateDir
	}
	return redactURLs(e.cfg.URLs)
}

// Health reports whether the engine can serve: nil when connected and
// JetStream answers within ctx.
func (e *Engine) Health(ctx context.Context) error {
	if e.closing.Load() {
		return ErrClosed
	}
	if !e.nc.IsConnected() {
		return fmt.Errorf("%w (%s)", ErrDisconnected, e.where())
	}
	if _, err := e.js.AccountInfo(ctx); err != nil {
		return e.classify(err)
	}
	return nil
}

// Stats are the engine connection's figures, for /metrics. The counters
// only grow over the Engine's life.
type Stats struct {
	Connected  bool   // connected to NATS now
	Reconnects uint64 // times the connection was re-established
	InMsgs     uint64 // messages received, JetStream API answers included
	InBytes    uint64
	OutMsgs    uint64 // messages sent, JetStream API requests included
	OutBytes   uint64
}

// Stats returns the connection's figures. It does not block on the
// network.
func (e *Engine) Stats() Stats {
	s := e.nc.Stats()
	return Stats{
		Connected:  e.nc.IsConnected(),
		Reconnects: s.Reconnects,
		InMsgs:     s.InMsgs,
		InBytes:    s.InBytes,
		OutMsgs:    s.OutMsgs,
		OutBytes:   s.OutBytes,
	}
}

// Shutdown drains the connection (subscriptions end after what they have
// received is handled, and what was published is flushed), closes it,
// stops the embedded server and waits for its goroutines. If ctx is done
// first, it closes the connection at once and returns ctx's error; the
// server then finishes stopping in the background. Later calls return
// the first call's result. Every other method returns ErrClosed once
// Shutdown has started.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.shutdownOnce.Do(func() { e.shutdownErr = e.shutdown(ctx) })
	return e.shutdownErr
}

func (e *Engine) shutdown(ctx context.Context) error {
	e.closing.Store(true)
	var errs []error
	if err := e.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		e.nc.Close() // Drain closes it too when it cannot drain
	}
	select {
	case <-e.ncClosed:
	case <-ctx.Done():
		e.nc.Close()
		errs = append(errs, fmt.Errorf("drain: %w", ctx.Err()))
	}
	if e.srv != nil {
		stopped := make(chan struct{})
		go func() {
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
			e.lock.Close() // only now may another process open the state
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("stop embedded server: %w", ctx.Err()))...)
		}
	}
	e.log.Info("engine shut down", "mode", e.Mode())
	return errors.Join(errs...)
}

// clusterSize estimates how many servers the connected NATS cluster has:
// 1 for a server outside a cluster, else the servers the cluster
// advertises to clients (its INFO connect_urls, merged with the URLs
// given). Stream creation steps down from a replica count the cluster
// cannot hold, so an overestimate costs a retry, not a failure.
func (e *Engine) clusterSize() int {
	if e.nc.ConnectedClusterName() == "" {
		return 1
	}
	hosts := map[string]bool{}
	for _, s := range e.nc.Servers() {
		if u, err := url.Parse(s); err == nil {
			hosts[u.Host] = true
		}
	}
	return max(1, len(hosts))
}

// redactURLs joins urls for a message, leaving out any user and password.
func redactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			// Not a URL we can take apart: keep only what follows an @.
			if at := strings.LastIndexByte(s, '@'); at >= 0 {
				s = "…@" + s[at+1:]
			}
			out[i] = s
			continue
		}
		u.User = nil
		out[i] = u.String()
	}
	return strings.Join(out, ", ")
}
