package batch

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// DefaultAllowHosts is the policy of a console started without
// --allow-hosts: loopback and local only.
const DefaultAllowHosts = "127.0.0.0/8,::1/128,localhost,local"

// ErrNotAllowed is wrapped by Policy.Check's error.
var ErrNotAllowed = errors.New("targets not allowed")

// Policy says which targets a job may reach (the console's
// --allow-hosts). It holds address entries (CIDR prefixes and addresses),
// host name patterns ([hostexpr.NamePattern]: *.lab.example.com, web??,
// db[01-20]; * and ? never match a dot) and the word local.
//
// A target is checked twice. Its name, before anything runs: an IP
// address must be inside an address entry, a host name must match a
// pattern, local must be listed. Then every address actually dialled,
// after resolution (DNS, /etc/hosts, the ssh config's HostName): it must
// be inside an address entry. A pattern only lets a name through; it
// never lets a connection reach an address the address entries do not
// cover. So the default, 127.0.0.0/8,::1/128,localhost,local, reaches
// localhost only while it resolves to loopback, and a fleet allowed by
// name needs its networks listed too (*.lab.example.com,10.20.0.0/16).
// A Policy is immutable and safe for concurrent use.
type Policy struct {
	spec     string
	prefixes []netip.Prefix
	patterns []*hostexpr.NamePattern
	local    bool
}

// ParsePolicy parses a comma-separated list of CIDR prefixes, IP
// addresses, host name patterns and the word local.
func ParsePolicy(spec string) (*Policy, error) {
	p := &Policy{spec: spec}
	for _, item := range strings.Split(spec, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		switch {
		case item == "":
			continue
		case item == hostexpr.LocalName:
			p.local = true
		case strings.Contains(item, "/"):
			pfx, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("allow-hosts: %q: %w", item, err)
			}
			p.prefixes = append(p.prefixes, pfx.Masked())
		default:
			if a, err := netip.ParseAddr(item); err == nil {
				p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			if looksLikeAddress(item) {
				return nil, fmt.Errorf("allow-hosts: %q: write address ranges as CIDR prefixes (10.0.0.0/24)", item)
			}
			pat, err := hostexpr.ParseNamePattern(item)
			if err != nil {
				return nil, fmt.Errorf("allow-hosts: bad pattern %q: %w", item, err)
			}
			p.patterns = append(p.patterns, pat)
		}
	}
	return p, nil
}

// looksLikeAddress reports whether a pattern could only ever match IP
// addresses (10.0.0.*), which are checked against prefixes, never
// patterns.
func looksLikeAddress(item string) bool {
	return strings.Trim(item, "0123456789.*?[]-,") == "" && strings.Contains(item, ".")
}

// DefaultPolicy returns the policy DefaultAllowHosts describes.
func DefaultPolicy() *Policy {
	p, err := ParsePolicy(DefaultAllowHosts)
	if err != nil {
		panic(err) // a constant
	}
	return p
}

func (p *Policy) String() string { return p.spec }

// AllowName reports whether the policy allows a target name: an IP
// address, a host name, or local. A host name allowed here must still
// resolve to addresses AllowAddr allows.
func (p *Policy) AllowName(name string) bool {
	name = strings.ToLower(name)
	if name == hostexpr.LocalName {
		return p.local
	}
	if a, err := netip.ParseAddr(name); err == nil {
		return p.AllowAddr(a)
	}
	for _, pat := range p.patterns {
		if pat.Match(name) {
			return true
		}
	}
	return false
}

// AllowAddr reports whether an address entry of the policy holds a: the
// check of every address a job dials. An IPv4-mapped IPv6 address counts
// as the IPv4 address; a zone is ignored.
func (p *Policy) AllowAddr(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, pfx := range p.prefixes {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// Denied returns the hosts the policy does not allow, in order.
func (p *Policy) Denied(hosts []hostexpr.Host) []hostexpr.Host {
	var denied []hostexpr.Host
	for _, h := range hosts {
		if !p.AllowName(h.Name) {
			denied = append(denied, h)
		}
	}
	return denied
}

// Check returns an error wrapping ErrNotAllowed that names (folded) the
// hosts the policy does not allow, or nil.
func (p *Policy) Check(hosts []hostexpr.Host) error {
	denied := p.Denied(hosts)
	if len(denied) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s (allowed: %s)", ErrNotAllowed, hostexpr.Fold(denied), p.spec)
}
