package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// openExternal connects to cfg.URLs.
func (e *Engine) openExternal(ctx context.Context) error {
	for _, u := range e.cfg.URLs {
		if strings.TrimSpace(u) == "" {
			return errors.New("engine config: an empty NATS URL")
		}
	}
	d := &dialer{open: ctx, d: net.Dialer{Timeout: e.cfg.ConnectTimeout}}
	opts := e.natsOptions(nats.SetCustomDialer(d))
	if e.cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(e.cfg.CredsFile))
	}
	if e.cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(e.cfg.CAFile))
	}
	if e.cfg.CertFile != "" {
		opts = append(opts, nats.ClientCert(e.cfg.CertFile, e.cfg.KeyFile))
	}
	if e.cfg.CAFile != "" || e.cfg.CertFile != "" {
		opts = append(opts, nats.Secure())
	}
	// nats.Connect has no context: the dialer bounds each dial by ctx,
	// and Timeout bounds the handshake after it.
	nc, err := nats.Connect(strings.Join(e.cfg.URLs, ","), opts...)
	for n := 1; errors.Is(err, nats.ErrNoServers) && ctx.Err() == nil; n++ {
		// No server took the connection: one starting at the same time
		// (a compose file, a machine's boot) listens soon. Try again
		// until the connect timeout.
		if n == 1 {
			e.log.Info("no NATS server takes the connection yet: trying again", "at", e.where(), "for", e.cfg.ConnectTimeout)
		}
		if pause(ctx, min(n, maxNoResponders)) != nil {
			break
		}
		nc, err = nats.Connect(strings.Join(e.cfg.URLs, ","), opts...)
	}
	d.opened()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("not reachable in time: %w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("connect to NATS at %s: %w", e.where(), err)
	}
	e.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	e.js = js
	return nil
}

// natsOptions returns the connection options of both modes: reconnect
// forever, and nothing buffered while disconnected, so a publish then
// fails at once instead of being sent minutes later or dropped with the
// buffer.
func (e *Engine) natsOptions(extra ...nats.Option) []nats.Option {
	log := e.log
	closed := sync.OnceFunc(func() { close(e.ncClosed) })
	return append([]nats.Option{
		nats.Name(e.cfg.Name),
		nats.Timeout(e.cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(e.cfg.ReconnectWait),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if e.closing.Load() {
				return
			}
			log.Warn("NATS connection lost", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			e.noteReconnect()
			log.Info("NATS connection back", "server", redactURLs([]string{nc.ConnectedUrlRedacted()}))
		}),
		nats.ClosedHandler(func(*nats.Conn) { closed() }),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if e.closing.Load() {
				return
			}
			attrs := []any{"err", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			log.Warn("NATS asynchronous error", attrs...)
		}),
	}, extra...)
}

// dialer dials NATS servers; while Open runs, each dial is bounded by
// Open's context as well as by the connect timeout, so that several
// unreachable URLs together still fail within it.
type dialer struct {
	mu   sync.Mutex
	open context.Context // Open's context, nil after Open; guarded by mu
	d    net.Dialer
}

func (d *dialer) opened() {
	d.mu.Lock()
	d.open = nil
	d.mu.Unlock()
}

// Dial implements nats.CustomDialer. The library sets no timeout on a
// custom dialer: d's own (the connect timeout) bounds every dial.
func (d *dialer) Dial(network, address string) (net.Conn, error) {
	d.mu.Lock()
	ctx := d.open
	d.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	return d.d.DialContext(ctx, network, address)
}
