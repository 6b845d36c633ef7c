package fleetmon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/policy"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// CodeDenied is the error code of a watch the user's role or the policy
// refuses.
const CodeDenied = "denied"

// watchMessage asks for the hosts of an expression (as Exec's, with
// @group terms).
type watchMessage struct {
	Expr string `json:"expr"`
}

type detailMessage struct {
	Host string `json:"host"`
}

// foldMessage asks for hosts folded into one expression, as Exec folds
// (hostexpr.Fold): what the page sends to the Exec tab.
type foldMessage struct {
	Hosts []string `json:"hosts"`
}

// Folded answers a fold.
type Folded struct {
	Type string `json:"type"` // "folded"
	ID   string `json:"id,omitempty"`
	Expr string `json:"expr"`
}

// ServeSocket runs a page's /ws/fleet connection. It gets a Hello; it sends
// {"type":"watch","expr":"..."} (again to change it) and
// {"type":"detail","host":"..."}; it gets Hosts, then a Tick each
// Interval, and History for a detail. {"type":"fold","id":"...","hosts":
// [...]} gets Folded: the hosts as one expression, for the Exec tab. Who may watch what is decided as
// for an Exec run, on each watch: an admin any host within --allow-hosts,
// an operator the hosts of its groups, a viewer none (opening sessions on
// hosts is acting on them).
func (f *Fleet) ServeSocket(ctx context.Context, c *socket.Conn, r *http.Request) error {
	id, _ := auth.IdentityFrom(r.Context())
	c.SendJSON(Hello{Type: "hello", MaxHosts: f.opts.MaxHosts, Period: f.opts.Interval.Milliseconds(),
		Stale: f.opts.Stale.Milliseconds(), Down: f.opts.Down.Milliseconds()})
	var v *viewer
	defer func() { f.Unwatch(v) }()
	return c.Run(ctx, func(msg socket.Message) error {
		switch msg.Type {
		case "watch":
			var m watchMessage
			if err := json.Unmarshal(msg.Data, &m); err != nil {
				return socket.Errorf(socket.CodeInvalid, "watch: %v", err)
			}
			hosts, err := f.targets(id, m.Expr)
			if err != nil {
				return err
			}
			nv, err := f.Watch(ctx, c, hosts)
			if err != nil {
				return socket.Errorf(socket.CodeInternal, "%v", err)
			}
			f.Unwatch(v)
			v = nv
			c.SendJSON(Hosts{Type: "hosts", Expr: hostexpr.Fold(hosts), Hosts: v.hosts,
				Stale: f.opts.Stale.Milliseconds(), Down: f.opts.Down.Milliseconds(), Period: f.opts.Interval.Milliseconds()})
			return nil
		case "detail":
			var m detailMessage
			if err := json.Unmarshal(msg.Data, &m); err != nil || v == nil {
				return socket.Errorf(socket.CodeInvalid, "detail: watch hosts first")
			}
			h, err := f.Detail(ctx, v, m.Host)
			if err != nil {
				return socket.Errorf(socket.CodeInvalid, "%v", err)
			}
			c.SendJSON(h)
			return nil
		case "fold":
			var m foldMessage
			if err := json.Unmarshal(msg.Data, &m); err != nil {
				return socket.Errorf(socket.CodeInvalid, "fold: %v", err)
			}
			expr, err := f.fold(m.Hosts)
			if err != nil {
				return err
			}
			c.SendJSON(Folded{Type: "folded", ID: msg.ID, Expr: expr})
			return nil
		}
		return socket.UnknownType(msg.Type)
	})
}

// fold folds hosts (at most MaxHosts, each one host as written).
func (f *Fleet) fold(names []string) (string, error) {
	if len(names) > f.opts.MaxHosts {
		return "", socket.Errorf(socket.CodeInvalid, "fold: %d hosts, more than %d", len(names), f.opts.MaxHosts)
	}
	hosts := make([]hostexpr.Host, 0, len(names))
	for _, n := range names {
		h, err := hostexpr.Parse(n, nil)
		if err != nil || len(h) != 1 {
			return "", socket.Errorf(socket.CodeInvalid, "fold: %q is not one host", n)
		}
		hosts = append(hosts, h[0])
	}
	return hostexpr.Fold(hosts), nil
}

// targets expands expr for the identity and checks its hosts, as Exec
// does: refusals name the group or the hosts.
func (f *Fleet) targets(id auth.Identity, expr string) ([]hostexpr.Host, error) {
	p := f.roles
	if f.opts.Roles != nil {
		if rp := f.opts.Roles(); rp != nil {
			p = rp
		}
	}
	own := id.Role
	if id.Method == auth.MethodOIDC {
		own = 0
	}
	a := p.Access(policy.Subject{Name: id.User, Role: own, Groups: id.Groups})
	if err := a.MayRun(); err != nil {
		return nil, socket.Errorf(CodeDenied, "fleet: watching hosts opens SSH sessions on them, which needs an operator or admin: %v", err)
	}
	hosts, err := a.Expand(expr, &hostexpr.Options{MaxHosts: f.opts.MaxHosts})
	switch {
	case errors.Is(err, policy.ErrDenied), errors.Is(err, policy.ErrUnknownGroup):
		return nil, socket.Errorf(CodeDenied, "%v", err)
	case err != nil:
		return nil, socket.Errorf(socket.CodeInvalid, "%v", err)
	}
	for _, h := range hosts {
		if h.IsLocal() {
			return nil, socket.Errorf(socket.CodeInvalid, "fleet: %s: the Monitor view shows this machine", h)
		}
	}
	if err := a.Allowed(hosts); err != nil {
		if errors.Is(err, batch.ErrNotAllowed) {
			return nil, socket.Errorf(CodeDenied, "%v: start the console with --allow-hosts to reach them", err)
		}
		return nil, socket.Errorf(CodeDenied, "%v", err)
	}
	return hosts, nil
}
