package batch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Resolver looks up the addresses of host names. *net.Resolver satisfies
// it; Config.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// AddrDeniedError is a host's error when its name is allowed but an
// address it resolved to is outside the policy's address entries (see
// Policy). It matches ErrNotAllowed with errors.Is.
type AddrDeniedError struct {
	Host   string     // the name dialled: the target's, or its ssh config HostName
	Addr   netip.Addr // the address it resolved to
	Policy string     // the policy, as written
}

func (e *AddrDeniedError) Error() string {
	return fmt.Sprintf("%s resolves to %s, which no address in --allow-hosts covers (allowed: %s): "+
		"add the address or its network to --allow-hosts to reach it", e.Host, e.Addr, e.Policy)
}

// Is makes errors.Is(err, ErrNotAllowed) true.
func (e *AddrDeniedError) Is(target error) bool { return target == ErrNotAllowed }

// dial connects to e over TCP. A name is resolved with Config.Resolver
// and its addresses are tried in order, as ssh does. When the job has a
// Policy, each address is checked in the dialer's Control, after
// resolution and before connect(2): no packet goes to an address the
// policy does not cover, whatever produced it. If every address fails,
// the error is that of the first one the policy allowed, else the first
// refusal.
func (j *job) dial(ctx context.Context, e endpoint) (net.Conn, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(e.hostname); err == nil {
		addrs = []netip.Addr{a}
	} else {
		r := j.cfg.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, "ip", e.hostname); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: e.hostname, IsNotFound: true}
		}
	}
	var d net.Dialer
	if p := j.cfg.Policy; p != nil {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dialling %q: %w", address, err)
			}
			if !p.AllowAddr(ap.Addr()) {
				return &AddrDeniedError{Host: e.hostname, Addr: ap.Addr().WithZone("").Unmap(), Policy: p.String()}
			}
			return nil
		}
	}
	var firstAllowed, firstDenied error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a, uint16(e.port)).String())
		if err == nil {
			return conn, nil
		}
		var denied *AddrDeniedError
		if errors.As(err, &denied) {
			if firstDenied == nil {
				firstDenied = denied
			}
		} else if firstAllowed == nil {
			firstAllowed = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if firstAllowed != nil {
		return nil, firstAllowed
	}
	return nil, firstDenied
}
