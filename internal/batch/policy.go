package batch

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"wsdeck/internal/hostexpr"
)

// DefaultAllowHosts is the policy of a console started without
// --allow-hosts: loopback and local only.
const DefaultAllowHosts = "127.0.0.0/8,::1/128,localhost,local"

// ErrNotAllowed is wrapped by Policy.Check's error.
var ErrNotAllowed = errors.New("targets not allowed")

// Policy says which targets a job may reach (the console's
// --allow-hosts). An IP address is allowed when a CIDR prefix holds it; a
// host name when a pattern matches it (path.Match syntax, case-insensitive:
// *.lab.example.com, web??); local when the policy lists local. Names are
// not resolved to check them against prefixes: list the names (or
// patterns) to allow. A Policy is immutable and safe for concurrent use.
type Policy struct {
	spec     string
	prefixes []netip.Prefix
	patterns []string
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
			if _, err := path.Match(item, ""); err != nil {
				return nil, fmt.Errorf("allow-hosts: bad pattern %q: %w", item, err)
			}
			p.patterns = append(p.patterns, item)
		}
	}
	return p, nil
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
// address, a host name, or local.
func (p *Policy) AllowName(name string) bool {
	name = strings.ToLower(name)
	if name == hostexpr.LocalName {
		return p.local
	}
	if a, err := netip.ParseAddr(name); err == nil {
		a = a.WithZone("").Unmap()
		for _, pfx := range p.prefixes {
			if pfx.Contains(a) {
				return true
			}
		}
		return false
	}
	for _, pat := range p.patterns {
		if ok, _ := path.Match(pat, name); ok {
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
