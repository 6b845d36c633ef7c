package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

var (
	// ErrDenied is wrapped by the errors of Allowed and Expand for what the
	// subject may not do.
	ErrDenied = errors.New("not permitted")
	// ErrUnknownGroup is wrapped by Expand's error for @NAME naming no
	// group of the policy.
	ErrUnknownGroup = errors.New("unknown host group")
)

// Subject is who asks: a user as the console knows them after login.
type Subject struct {
	Name string // the user name (local, or the identity provider's)
	// Role is the user's own role (a local user's); 0 for none (a user of
	// single sign-on has only what bindings give).
	Role users.Role
	// Groups are the user's groups from the identity provider's groups
	// claim.
	Groups []string
}

// Access is what one subject may do under a policy. It is immutable.
type Access struct {
	Subject Subject
	// Role is the effective role: the highest of the subject's own and
	// of the bindings naming them. 0 (not Valid) means none: the console
	// should refuse the login.
	Role users.Role

	p      *Policy
	all    bool     // any host within the ceiling
	groups []string // the host groups the subject may use, sorted
}

// Access evaluates the policy for s.
func (p *Policy) Access(s Subject) *Access {
	a := &Access{Subject: s, p: p}
	if s.Role.Valid() {
		a.Role = s.Role
	}
	match := slices.Clone(p.byUser[strings.ToLower(s.Name)])
	for _, g := range s.Groups {
		match = append(match, p.byOIDC[g]...)
	}
	slices.Sort(match) // for Compact
	var groups []string
	for _, i := range slices.Compact(match) {
		b := p.bindings[i]
		a.Role = max(a.Role, b.role)
		for _, g := range b.groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	switch {
	case a.Role == users.Admin:
		a.all, a.groups = true, p.order
	case a.Role == users.Operator:
		a.all = p.open
		slices.Sort(groups)
		a.groups = groups
	}
	return a
}

// Allowed is p.Access(s).Allowed(hosts).
func (p *Policy) Allowed(s Subject, hosts []hostexpr.Host) error {
	return p.Access(s).Allowed(hosts)
}

// Groups returns the names of the host groups the subject may use in an
// expression (@NAME), sorted: every group for an admin, the groups of
// their bindings for an operator, none for a viewer.
func (a *Access) Groups() []string { return slices.Clone(a.groups) }

// Hosts returns the host names of the group name, in its expression's
// order, or nil for no such group.
func (p *Policy) Hosts(name string) []string {
	if g := p.groups[name]; g != nil {
		return slices.Clone(g.names)
	}
	return nil
}

// Allowed returns nil if the subject may run a job on hosts, or an error
// wrapping ErrDenied that says why: a viewer (or a subject without a role)
// runs nothing; no one reaches a host the ceiling (--allow-hosts) does not
// allow, and the error names those hosts (and wraps batch.ErrNotAllowed);
// an operator reaches only the hosts of its groups, and the error names
// the others. Hosts are matched by name: their user and port do not count.
func (a *Access) Allowed(hosts []hostexpr.Host) error {
	if err := a.mayRun(); err != nil {
		return err
	}
	if err := a.p.ceiling.Check(hosts); err != nil {
		return fmt.Errorf("%w: %w", ErrDenied, err)
	}
	if a.all {
		return nil
	}
	var denied []hostexpr.Host
	for _, h := range hosts {
		if !a.inGroups(h.Name) {
			denied = append(denied, h)
		}
	}
	if len(denied) == 0 {
		return nil
	}
	if len(a.groups) == 0 {
		return fmt.Errorf("%w: %s is an operator without host groups in %s (refused: %s)",
			ErrDenied, a.Subject.Name, a.p.file, hostexpr.Fold(denied))
	}
	return fmt.Errorf("%w: %s outside the host groups of %s (%s)",
		ErrDenied, hostexpr.Fold(denied), a.Subject.Name, strings.Join(a.groups, ", "))
}

// Denied returns the hosts, of hosts, that Allowed would refuse: every
// one for a subject who runs nothing, those beyond the ceiling, and for an
// operator those outside its groups. It lets a page show them before a
// run; Allowed remains the check.
func (a *Access) Denied(hosts []hostexpr.Host) []hostexpr.Host {
	if a.mayRun() != nil {
		return slices.Clone(hosts)
	}
	var denied []hostexpr.Host
	for _, h := range hosts {
		if len(a.p.ceiling.Denied([]hostexpr.Host{h})) > 0 || (!a.all && !a.inGroups(h.Name)) {
			denied = append(denied, h)
		}
	}
	return denied
}

// MayRun returns nil if the subject's role runs jobs (operator or admin),
// or an error wrapping ErrDenied that says why not.
func (a *Access) MayRun() error { return a.mayRun() }

func (a *Access) mayRun() error {
	switch {
	case !a.Role.Valid():
		return fmt.Errorf("%w: %s has no role", ErrDenied, a.Subject.Name)
	case !a.Role.AtLeast(users.Operator):
		return fmt.Errorf("%w: %s is a viewer: viewers run nothing", ErrDenied, a.Subject.Name)
	}
	return nil
}

func (a *Access) inGroups(name string) bool {
	for _, g := range a.groups {
		if _, ok := a.p.groups[g].set[name]; ok {
			return true
		}
	}
	return false
}

// Expand parses expr, an Exec host expression in which a term @NAME
// stands for the hosts of the group NAME and !@NAME removes them, under
// opts (the Exec tab's cap: the group's hosts count towards it). A group
// must be one of the subject's (Groups); an unknown group is an error
// wrapping ErrUnknownGroup, one not theirs wraps ErrDenied. Syntax errors
// in the rest of expr are hostexpr's *SyntaxError, at their place in
// expr. Expand does not check the hosts: call Allowed with its result.
func (a *Access) Expand(expr string, opts *hostexpr.Options) ([]hostexpr.Host, error) {
	ts := terms(expr)
	if !slices.ContainsFunc(ts, func(t term) bool { return t.group != "" }) {
		return hostexpr.Parse(expr, opts)
	}
	if err := a.mayRun(); err != nil {
		return nil, err
	}
	// Check the groups, and the rest of expr with each group blanked out,
	// so a syntax error points into expr as written.
	blank := []byte(expr)
	var total uint64
	for _, t := range ts {
		if t.group == "" {
			continue
		}
		if err := checkGroupName(t.group); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnknownGroup, err)
		}
		g := a.p.groups[t.group]
		switch {
		case g == nil && len(a.groups) == 0:
			return nil, fmt.Errorf("%w: @%s (no host groups are yours)", ErrUnknownGroup, t.group)
		case g == nil:
			return nil, fmt.Errorf("%w: @%s (yours: %s)", ErrUnknownGroup, t.group, strings.Join(a.groups, ", "))
		case !slices.Contains(a.groups, t.group):
			return nil, fmt.Errorf("%w: host group @%s is not one of %s's (%s)", ErrDenied, t.group, a.Subject.Name, a.groupsText())
		}
		if !t.neg {
			total += uint64(len(g.names))
		}
		for i := t.off; i < t.end; i++ {
			blank[i] = ' '
		}
	}
	n, err := hostexpr.Count(string(blank))
	if err != nil {
		if se, ok := err.(*hostexpr.SyntaxError); ok {
			se.Expr = expr // with its groups, as the user wrote it
		}
		return nil, err
	}
	total += n
	var o hostexpr.Options
	if opts != nil {
		o = *opts
	}
	limit := o.MaxHosts
	if limit == 0 {
		limit = hostexpr.DefaultMaxHosts
	}
	if limit > 0 && total > uint64(limit) {
		return nil, fmt.Errorf("host expression %q names %d hosts, more than the limit of %d: %w", expr, total, limit, hostexpr.ErrTooManyHosts)
	}

	// Write the expression out with the groups' hosts in their places.
	var b strings.Builder
	for _, t := range ts {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if t.group == "" {
			b.WriteString(expr[t.off:t.end])
			continue
		}
		for i, h := range a.p.groups[t.group].names {
			if i > 0 {
				b.WriteByte(',')
			}
			if t.neg {
				b.WriteByte('!')
			}
			b.WriteString(h)
		}
	}
	o.MaxHosts = -1 // counted above
	return hostexpr.Parse(b.String(), &o)
}

func (a *Access) groupsText() string {
	if len(a.groups) == 0 {
		return "none"
	}
	return strings.Join(a.groups, ", ")
}

// term is one term of an expression: expr[off:end], and for @NAME or
// !@NAME the group's name and whether it is removed.
type term struct {
	off, end int
	group    string
	neg      bool
}

// terms splits expr as hostexpr does: at commas and white space outside
// brackets. Unbalanced brackets are left for hostexpr to report.
func terms(expr string) []term {
	var ts []term
	depth, start := 0, 0
	flush := func(end int) {
		if start >= end {
			return
		}
		t := term{off: start, end: end}
		s := expr[start:end]
		ref := false
		if g, ok := strings.CutPrefix(s, "!@"); ok {
			t.group, t.neg, ref = g, true, true
		} else if g, ok := strings.CutPrefix(s, "@"); ok {
			t.group, ref = g, true
		}
		if ref && t.group == "" {
			t.group = "@" // a lone @: a bad group name, reported as such
		}
		ts = append(ts, t)
	}
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '[':
			depth++
		case ']':
			depth = max(depth-1, 0)
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(expr))
	return ts
}
