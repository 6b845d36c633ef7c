package batch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// Errors of Result.Err that are not about a host (see also HostKeyError).
var (
	// ErrCanceled: the job was cancelled before or while the host ran.
	ErrCanceled = errors.New("canceled")
	// ErrCommandTimeout is wrapped when a command outlived CommandTimeout.
	ErrCommandTimeout = errors.New("command timed out")
	// ErrConnectTimeout is wrapped when connecting, the handshake and
	// authentication took longer than ConnectTimeout.
	ErrConnectTimeout = errors.New("connect timeout")
)

// classifyConnect names the class of an error from connecting (dialling,
// handshake, authentication, opening the session). ctx is the job's
// context, dctx the connection's (ctx plus ConnectTimeout); verified says
// whether the host key had been accepted, so that a failure after it is
// one of authentication.
func classifyConnect(ctx, dctx context.Context, err error, verified bool, timeout string) (Status, error) {
	var hke *HostKeyError
	var dns *net.DNSError
	var denied *AddrDeniedError
	switch {
	case ctx.Err() != nil:
		return StatusCanceled, ErrCanceled
	case errors.As(err, &denied):
		return StatusDenied, denied
	case errors.As(err, &hke):
		return hke.Status, hke
	case dctx.Err() != nil || isTimeout(err):
		return StatusTimeout, fmt.Errorf("%w: no answer within %s (connect, handshake, authentication)", ErrConnectTimeout, timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return StatusRefused, errors.New("connection refused")
	case errors.As(err, &dns):
		return StatusUnreachable, fmt.Errorf("unknown host: %w", err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return StatusUnreachable, err
	case verified && isAuthFailure(err):
		return StatusAuthFailed, err
	}
	return StatusError, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isAuthFailure recognises x/crypto/ssh's authentication failures, which
// have no type of their own: running out of methods, or the server
// disconnecting after too many attempts.
func isAuthFailure(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "authentication failures")
}
