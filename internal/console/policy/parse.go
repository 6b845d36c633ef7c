package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Limits on a policy file.
const (
	// MaxFileSize is the largest policy file read, in bytes.
	MaxFileSize = 1 << 20
	// MaxHosts caps the hosts all the groups of a file name together,
	// counted before any group is expanded.
	MaxHosts = 65536
	// MaxGroupName is the longest group name, in bytes.
	MaxGroupName = 64
)

// Options adjusts Parse and Load. The zero value means the defaults.
type Options struct {
	// Ceiling is the allow-list no binding can exceed (the console's
	// --allow-hosts); nil means batch.DefaultPolicy().
	Ceiling *batch.Policy
}

// Policy is a parsed policy file. It is immutable and safe for concurrent
// use.
type Policy struct {
	file     string
	groups   map[string]*group
	order    []string // group names, sorted
	bindings []binding
	byUser   map[string][]int // user name → indexes in bindings
	byOIDC   map[string][]int // OIDC group → indexes in bindings
	ceiling  *batch.Policy
	open     bool // no file: operators reach the whole ceiling
}

// group is a named host group.
type group struct {
	name  string
	line  int
	names []string            // its host names, in the expression's order
	set   map[string]struct{} // the same, for lookups
}

// binding gives the users and OIDC groups it names a role and host groups.
type binding struct {
	line   int
	users  []string // canonical user names
	oidc   []string // OIDC group names, as the identity provider spells them
	role   users.Role
	groups []string // host group names
}

// Error is a fault in a policy file: the file, the line (0 if unknown)
// and what is wrong.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("policy %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("policy %s: %s", e.File, e.Msg)
}

// Default returns the policy of a console without a policy file: no host
// groups and no bindings; every user has their own role, and operators
// and admins reach every host within the ceiling.
func Default(opts *Options) *Policy {
	p := &Policy{file: "(none)", groups: map[string]*group{}, open: true}
	p.setOptions(opts)
	return p
}

func (p *Policy) setOptions(opts *Options) {
	if opts != nil && opts.Ceiling != nil {
		p.ceiling = opts.Ceiling
	} else {
		p.ceiling = batch.DefaultPolicy()
	}
}

// Load reads and parses the policy file at path.
func Load(path string, opts *Options) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse parses a policy file's contents; name is the file's name, for
// errors. An error in the file is an *Error.
func Parse(name string, data []byte, opts *Options) (*Policy, error) {
	fail := func(line int, format string, args ...any) (*Policy, error) {
		return nil, &Error{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxFileSize {
		return fail(0, "larger than %d bytes", MaxFileSize)
	}
	p := &Policy{file: name, groups: map[string]*group{}, byUser: map[string][]int{}, byOIDC: map[string][]int{}}
	p.setOptions(opts)

	// First pass: the structure, strictly (unknown fields are errors).
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&raw); {
	case errors.Is(err, io.EOF):
		return p, nil // empty: no groups, no bindings
	case err != nil:
		line, msg := yamlError(err)
		return fail(line, "%s", msg)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return fail(line, "a second YAML document: want one")
	}
	// Second pass: the nodes, for the line of each part.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlError(err)
		return fail(line, "%s", msg)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}

	// Groups, in the file's order: the host budget is spent in that order.
	budget := uint64(MaxHosts)
	if gs := field(root, "groups"); gs != nil {
		for i := 0; i+1 < len(gs.Content); i += 2 {
			k := gs.Content[i]
			g, err := p.parseGroup(k.Value, raw.Groups[k.Value], k.Line, &budget)
			if err != nil {
				return nil, err
			}
			p.groups[g.name] = g
			p.order = append(p.order, g.name)
		}
	}
	slices.Sort(p.order)

	var bnodes []*yaml.Node
	if bs := field(root, "bindings"); bs != nil {
		bnodes = bs.Content
	}
	for i, rb := range raw.Bindings {
		line := 0
		if i < len(bnodes) {
			line = bnodes[i].Line
		}
		b, err := p.parseBinding(rb, line, lineOf(bnodes, i))
		if err != nil {
			return nil, err
		}
		for _, u := range b.users {
			p.byUser[u] = append(p.byUser[u], len(p.bindings))
		}
		for _, g := range b.oidc {
			p.byOIDC[g] = append(p.byOIDC[g], len(p.bindings))
		}
		p.bindings = append(p.bindings, b)
	}
	return p, nil
}

// rawFile is a policy file as YAML decodes it.
type rawFile struct {
	Groups   map[string]exprList `yaml:"groups"`
	Bindings []rawBinding        `yaml:"bindings"`
}

type rawBinding struct {
	Users      []string `yaml:"users"`
	OIDCGroups []string `yaml:"oidc_groups"`
	Role       string   `yaml:"role"`
	Hosts      []string `yaml:"hosts"`
}

// exprList is a group's value: one host expression or a list of them.
type exprList []string

// UnmarshalYAML takes a string or a list of strings.
func (l *exprList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = exprList{n.Value}
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a group is a host expression or a list of them", n.Line)}}
}

var groupName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

func checkGroupName(name string) error {
	if len(name) > MaxGroupName || !groupName.MatchString(name) {
		return fmt.Errorf("group name %q: want up to %d letters, digits, - and _, starting with a letter", name, MaxGroupName)
	}
	return nil
}

// parseGroup expands a group's expressions, spending *budget hosts.
func (p *Policy) parseGroup(name string, exprs exprList, line int, budget *uint64) (*group, error) {
	fail := func(format string, args ...any) (*group, error) {
		return nil, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if err := checkGroupName(name); err != nil {
		return fail("%v", err)
	}
	expr := strings.Join(exprs, ",")
	if strings.TrimSpace(strings.ReplaceAll(expr, ",", " ")) == "" {
		return fail("group %s names no host", name)
	}
	if strings.Contains(expr, "@") && slices.ContainsFunc(terms(expr), func(t term) bool { return t.group != "" }) {
		return fail("group %s: a group names hosts, not other groups (@NAME)", name)
	}
	n, err := hostexpr.Count(expr)
	if err != nil {
		return fail("group %s: %v", name, err)
	}
	if n > *budget {
		return fail("group %s names %d hosts: the groups of a file may name %d in all", name, n, MaxHosts)
	}
	hosts, err := hostexpr.Parse(expr, &hostexpr.Options{MaxHosts: int(n)})
	if err != nil {
		return fail("group %s: %v", name, err)
	}
	*budget -= n
	g := &group{name: name, line: line, set: make(map[string]struct{}, len(hosts))}
	for _, h := range hosts {
		if h.User != "" || h.Port != 0 {
			return fail("group %s: %s: a group names hosts, without a user or port", name, h)
		}
		g.names = append(g.names, h.Name)
		g.set[h.Name] = struct{}{}
	}
	return g, nil
}

// parseBinding checks one binding; line is its own and at returns the
// line of one of its fields.
func (p *Policy) parseBinding(rb rawBinding, line int, at func(key string, i int) int) (binding, error) {
	fail := func(line int, format string, args ...any) (binding, error) {
		return binding{}, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	b := binding{line: line}
	if len(rb.Users) == 0 && len(rb.OIDCGroups) == 0 {
		return fail(line, "a binding names users, oidc_groups or both")
	}
	for i, u := range rb.Users {
		name, err := users.CheckName(u)
		if err != nil {
			return fail(at("users", i), "%v", err)
		}
		b.users = append(b.users, name)
	}
	for i, g := range rb.OIDCGroups {
		if g == "" {
			return fail(at("oidc_groups", i), "an empty OIDC group name")
		}
		b.oidc = append(b.oidc, g)
	}
	if rb.Role == "" {
		return fail(line, "a binding needs a role: viewer, operator or admin")
	}
	role, err := users.ParseRole(rb.Role)
	if err != nil {
		return fail(at("role", -1), "%v", err)
	}
	b.role = role
	switch {
	case role == users.Viewer && len(rb.Hosts) > 0:
		return fail(at("hosts", -1), "hosts on a viewer's binding: viewers run nothing")
	case role == users.Admin && len(rb.Hosts) > 0:
		return fail(at("hosts", -1), "hosts on an admin's binding: admins reach every host within --allow-hosts")
	case role == users.Operator && len(rb.Hosts) == 0:
		return fail(line, "an operator's binding names its host groups (hosts: [GROUP, ...])")
	}
	for i, h := range rb.Hosts {
		name := strings.TrimPrefix(h, "@")
		if _, ok := p.groups[name]; !ok {
			return fail(at("hosts", i), "unknown host group %q (the file's groups: %s)", h, p.groupList())
		}
		if !slices.Contains(b.groups, name) {
			b.groups = append(b.groups, name)
		}
	}
	return b, nil
}

func (p *Policy) groupList() string {
	if len(p.order) == 0 {
		return "none"
	}
	return strings.Join(p.order, ", ")
}

// field returns the value of key in the mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf returns, for the binding nodes[i], a function giving the line of
// its field key (i < 0) or of that field's item i, falling back to the
// binding's own line.
func lineOf(nodes []*yaml.Node, bi int) func(key string, i int) int {
	return func(key string, i int) int {
		if bi >= len(nodes) {
			return 0
		}
		v := field(nodes[bi], key)
		switch {
		case v == nil:
			return nodes[bi].Line
		case i >= 0 && v.Kind == yaml.SequenceNode && i < len(v.Content):
			return v.Content[i].Line
		}
		return v.Line
	}
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError returns the line and message of an error of the YAML decoder,
// in the words of a policy file.
func yamlError(err error) (int, string) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.NewReplacer(
		"in type policy.rawFile", "at the top (want groups and bindings)",
		"in type policy.rawBinding", "in a binding (want users, oidc_groups, role and hosts)",
		"into policy.rawFile", "into a policy",
		"into policy.rawBinding", "into a binding",
		"into policy.exprList", "into a group",
	).Replace(msg)
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}
