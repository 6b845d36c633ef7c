package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrClosed is returned by every call after Shutdown. It wraps
	// net.ErrClosed.
	ErrClosed = fmt.Errorf("engine shut down: %w", net.ErrClosed)

	// ErrDisconnected is returned when the connection to NATS is lost and
	// not yet back. Nothing is queued to be sent later: the caller decides
	// whether to retry.
	ErrDisconnected = errors.New("not connected to NATS")

	// ErrUnavailable is returned when NATS is connected but JetStream does
	// not answer (not enabled, or a cluster without a quorum).
	ErrUnavailable = errors.New("JetStream unavailable")

	// ErrNotFound is returned for an entry or key that is not there (or
	// was deleted).
	ErrNotFound = errors.New("not found")

	// ErrExists is returned by Bucket.Create for a key that has a value.
	ErrExists = errors.New("key exists")

	// ErrRevision is returned by Bucket.Update when the key's latest
	// revision is not the one given.
	ErrRevision = errors.New("revision mismatch")

	// ErrDenied is returned when a stream's policy refuses the operation
	// (deleting from a stream with DenyDelete, purging one with DenyPurge).
	ErrDenied = errors.New("refused by the stream's policy")
)

// JetStream API error codes the package tells apart (nats-server's
// errors.json).
const (
	codeInsufficientResources  = 10023
	codeTemporarilyUnavailable = 10008 // "JetStream system temporarily unavailable"
	codeDuplicateInProcess     = 10158 // "duplicate message id is in process"
	codeNoSuitablePeers        = 10005 // "no suitable peers for placement"
	codeReplicasNotSupported   = 10074
	codeDeleteFailed           = 10057 // "message delete not permitted" is one
	codePurgeFailed            = 10110 // "stream purge not permitted" is one
	codeWrongLastSequence      = 10071
	codeWrongLastSequenceR     = 10164 // the same, from a replicated stream
)

// apiCode returns the JetStream API error code in err, or 0.
func apiCode(err error) int {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return int(api.ErrorCode)
	}
	return 0
}

// classify maps the client library's errors to the package's sentinels,
// keeping the original in the chain for its detail.
func (e *Engine) classify(err error) error {
	switch {
	case err == nil:
		return nil
	case e.closing.Load(), errors.Is(err, nats.ErrConnectionClosed):
		return ErrClosed
	case errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected),
		!e.nc.IsConnected():
		return fmt.Errorf("%w (%s)", ErrDisconnected, e.where())
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case unanswered(err):
		return fmt.Errorf("%w: no answer in time: %w", ErrUnavailable, err)
	}
	// The client library keeps the API error's code for a purge but only
	// its text for a delete.
	failed := errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful)
	if c := apiCode(err); c == codeDeleteFailed || c == codePurgeFailed {
		failed = true
	}
	if failed && strings.Contains(err.Error(), "not permitted") {
		return fmt.Errorf("%w: %w", ErrDenied, err)
	}
	return err
}

// maxNoResponders bounds how many times in a row a request that found no
// responder is made again. On a cluster a server learns of a new
// bucket's readers, or a new consumer, a little after the create was
// answered.
const maxNoResponders = 10

// pause waits before the n-th new try of a request that found no
// responder: 20 ms × n, about a second over maxNoResponders tries.
func pause(ctx context.Context, n int) error {
	t := time.NewTimer(time.Duration(n) * 20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// unanswered reports whether err says a request found no answer in time.
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
}

// noResponders reports whether err says a request found nobody to answer it.
func noResponders(err error) bool { return errors.Is(err, nats.ErrNoResponders) }

// tryAgain calls f, and again while its error is one that transient
// accepts, up to maxNoResponders more times, pausing before each.
func tryAgain[T any](ctx context.Context, transient func(error) bool, f func() (T, error)) (T, error) {
	v, err := f()
	for n := 1; transient(err) && n <= maxNoResponders; n++ {
		if perr := pause(ctx, n); perr != nil {
			return v, perr
		}
		v, err = f()
	}
	return v, err
}
