package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/websocket"
)

// Error codes of the protocol's error messages.
const (
	CodeDenied      = "denied"
	CodeInvalid     = "invalid"
	CodeNotFound    = "not_found"
	CodeElsewhere   = "elsewhere" // the session runs on another node
	CodeFailed      = "failed"
	CodeRateLimited = "rate_limited"
)

var (
	errTooMany = errors.New("too many terminals on this socket")
	errClosed  = errors.New("the socket is closing")
)

// codedError is a refusal with its protocol code.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }

func coded(code string, format string, args ...any) error {
	return &codedError{code: code, err: fmt.Errorf(format, args...)}
}

// ServeWS runs the /ws/shell protocol on ws until it ends or ctx is done
// (then the socket is closed with 1001; the sessions stay, for their
// grace time). r is the handshake request: its context carries the
// identity (auth.IdentityFrom).
func (r *Registry) ServeWS(ctx context.Context, ws *websocket.Conn, req *http.Request) error {
	id, _ := auth.IdentityFrom(req.Context())
	ua := req.UserAgent()
	if len(ua) > 256 {
		ua = strings.ToValidUTF8(ua[:256], "")
	}
	p := &page{reg: r, c: newConn(ws), id: id, remote: req.RemoteAddr, ua: ua, bcast: map[byte]bool{},
		tokens: 2 * r.opts.ControlRate, last: time.Now()}
	go p.c.writeLoop()
	stop := context.AfterFunc(ctx, func() { ws.Close(websocket.StatusGoingAway, "server shutting down") })
	defer stop()
	err := p.readLoop()
	p.c.end()
	ws.CloseNow()
	return err
}

// page is one socket's state, used by its reading goroutine.
type page struct {
	reg        *Registry
	c          *conn
	id         auth.Identity
	remote, ua string
	bcast      map[byte]bool // the channels channel 0 types into
	tokens     float64       // the control messages' rate limit (a token bucket)
	last       time.Time     // when tokens was last filled
}

func (p *page) readLoop() error {
	var buf []byte
	for {
		typ, b, err := p.c.ws.ReadAppend(context.Background(), buf[:0])
		if err != nil {
			return err
		}
		if buf = b; cap(buf) > 64<<10 {
			buf = nil
		}
		if typ == websocket.MessageBinary {
			p.input(b)
			continue
		}
		var m inMsg
		if err := json.Unmarshal(b, &m); err != nil {
			if p.allow(time.Now()) { // a flood of them is dropped unanswered
				p.fail("", "", coded(CodeInvalid, "not a JSON control message: %v", err))
			}
			continue
		}
		if m.Type != "ack" && !p.allow(time.Now()) { // acks pace the output: never dropped
			p.fail(m.ID, m.Type, coded(CodeRateLimited, "over %g control messages a second: message dropped", p.reg.opts.ControlRate))
			continue
		}
		if err := p.handle(m); err != nil {
			p.fail(m.ID, m.Type, err)
		}
	}
}

// allow takes a token from the control messages' bucket, if one is left.
func (p *page) allow(now time.Time) bool {
	rate := p.reg.opts.ControlRate
	p.tokens = min(2*rate, p.tokens+now.Sub(p.last).Seconds()*rate)
	p.last = now
	if p.tokens < 1 {
		return false
	}
	p.tokens--
	return true
}

func (p *page) fail(id, typ string, err error) {
	code := CodeFailed
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		code = ce.code
	case errors.Is(err, errDenied), errors.Is(err, errReadOnly):
		code = CodeDenied
	}
	p.c.send(errorMsg{Type: "error", Code: code, Error: err.Error(), ID: id, For: typ})
}

// input types a binary frame's data into its channel's session, or into
// every session of the broadcast set for channel 0.
func (p *page) input(b []byte) {
	if len(b) < 2 {
		return
	}
	ch, data := b[0], b[1:]
	if ch != 0 {
		a := p.c.get(ch)
		if a == nil {
			return // ended or detached: the page was told
		}
		if err := a.input(data); err != nil {
			p.fail("", "input", err)
		}
		return
	}
	for ch := range p.bcast {
		if a := p.c.get(ch); a != nil {
			a.input(data) // a read-only pane of the set is skipped
		}
	}
}

func (p *page) handle(m inMsg) error {
	switch m.Type {
	case "open":
		return p.open(m)
	case "attach":
		return p.attach(m)
	case "list":
		p.list(m)
		return nil
	}
	a := p.c.get(m.Ch)
	if a == nil {
		switch m.Type {
		case "broadcast":
			return p.broadcast(m)
		case "ack":
			return nil // of output sent before the session ended or let go
		}
		return coded(CodeNotFound, "no session on channel %d", m.Ch)
	}
	switch m.Type {
	case "ack":
		a.ack(m.Bytes)
	case "resize":
		cols, rows := clampSize(m.Cols, m.Rows)
		return a.resize(cols, rows)
	case "detach":
		p.c.drop(m.Ch)
		a.detach()
		delete(p.bcast, m.Ch)
		p.c.send(okMsg{Type: "ok", ID: m.ID, For: m.Type})
	case "close":
		if err := p.reg.mayClose(p.id, a.s); err != nil {
			return err
		}
		a.s.Close("closed by " + nameOf(p.id))
	case "share":
		if ownerOf(p.id) != a.s.Owner {
			return coded(CodeDenied, "only %s may share session %s", a.s.Owner.User, a.s.Meta.ID)
		}
		switch m.Share {
		case ShareNone, ShareWatch, ShareType:
		default:
			return coded(CodeInvalid, "share: %q is not none, watch or type", m.Share)
		}
		a.s.SetShare(m.Share)
		p.c.send(okMsg{Type: "ok", ID: m.ID, For: m.Type})
	case "broadcast":
		return p.broadcast(m)
	default:
		return coded(CodeInvalid, "unknown message type %q", m.Type)
	}
	return nil
}

// broadcast sets the channels channel 0 types into.
func (p *page) broadcast(m inMsg) error {
	clear(p.bcast)
	for _, ch := range m.Chs {
		if p.c.get(ch) != nil {
			p.bcast[ch] = true
		}
	}
	p.c.send(okMsg{Type: "ok", ID: m.ID, For: m.Type})
	return nil
}

// open starts a session on each host of m.Host (one unless m.Many, then
// up to MaxBroadcast, connected at once) and attaches them.
func (p *page) open(m inMsg) error {
	most := 1
	if m.Many {
		most = p.reg.opts.MaxBroadcast
	}
	a := p.reg.access(p.id)
	hosts, err := p.reg.targets(a, m.Host, most)
	if err != nil {
		return err
	}
	reply := openedMsg{Type: "opened", ID: m.ID, Sessions: make([]sessionInfo, len(hosts))}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			s, err := p.reg.Open(context.Background(), Start{
				Host: h, Cols: m.Cols, Rows: m.Rows, Owner: ownerOf(p.id), Role: a.Role.String(),
				Client: "web " + p.remote, RemoteAddr: p.remote, UserAgent: p.ua,
			})
			if err != nil {
				errs[i] = err
				return
			}
			_, err = p.c.add(func(ch byte) (*attachment, error) {
				return s.attach(p.c, ch, true, true, func(a *attachment, replay int) {
					reply.Sessions[i] = p.hello(m.ID, a, replay)
				})
			})
			if err != nil {
				s.Close("the page could not attach: " + err.Error())
				errs[i] = err
			}
		})
	}
	wg.Wait()
	out := reply.Sessions[:0]
	for i, info := range reply.Sessions {
		if errs[i] != nil {
			reply.Errors = append(reply.Errors, hostError{Host: hosts[i].String(), Error: errs[i].Error()})
			continue
		}
		out = append(out, info)
	}
	reply.Sessions = out
	if len(out) == 0 && len(reply.Errors) == 1 {
		return coded(CodeFailed, "%s", reply.Errors[0].Error)
	}
	p.c.send(reply)
	return nil
}

// attach attaches a running session of this node: its scrollback is
// sent first. A session of another node is refused, naming the node.
func (p *page) attach(m inMsg) error {
	s := p.reg.Get(m.Session)
	if s == nil {
		if node := NodeOf(m.Session); node != p.reg.opts.Node && node != "" {
			return coded(CodeElsewhere, "session %s runs on node %s, and this page reached node %s: "+
				"sessions stay on the node that runs them (route the page back to it)", m.Session, node, p.reg.opts.Node)
		}
		return coded(CodeNotFound, "no session %s: it has ended", m.Session)
	}
	owner, err := p.reg.mayAttach(p.id, s)
	if err != nil {
		return err
	}
	att, err := p.c.add(func(ch byte) (*attachment, error) {
		return s.attach(p.c, ch, owner, owner, func(a *attachment, replay int) { p.hello(m.ID, a, replay) })
	})
	if err != nil {
		return err
	}
	if owner && m.Cols > 0 && m.Rows > 0 {
		cols, rows := clampSize(m.Cols, m.Rows)
		att.resize(cols, rows)
	}
	return nil
}

// list names the sessions of this node the page's user may attach.
func (p *page) list(m inMsg) {
	out := listMsg{Type: "sessions", ID: m.ID, Node: p.reg.opts.Node, Sessions: []sessionInfo{}}
	for _, s := range p.reg.List() {
		if _, err := p.reg.mayAttach(p.id, s); err == nil {
			out.Sessions = append(out.Sessions, p.info(s))
		}
	}
	p.c.send(out)
}

// hello claims a's channel and tells the page of it ("attached", before
// any of its output, with the length of the scrollback that follows),
// from the session's attach with its lock held.
func (p *page) hello(id string, a *attachment, replay int) sessionInfo {
	p.c.claim(a)
	info := p.infoLocked(a.s)
	info.Ch, info.Replay = a.ch, replay
	p.c.send(attachedMsg{Type: "attached", ID: id, Session: info})
	return info
}

// info describes s for the page.
func (p *page) info(s *Session) sessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return p.infoLocked(s)
}

func (p *page) infoLocked(s *Session) sessionInfo {
	info := sessionInfo{
		Session: s.Meta.ID, Host: s.Meta.Host, User: s.Owner.User, Node: s.Meta.Node, Start: s.Meta.Start,
		Cols: s.cols, Rows: s.rows, Owner: ownerOf(p.id) == s.Owner, Share: s.share, Attached: len(s.atts),
	}
	info.Write = info.Owner || info.Share == ShareType
	return info
}

func nameOf(id auth.Identity) string {
	if id.User == "" {
		return "an unknown user"
	}
	return id.User
}

// ServeSocket refuses a connection served through package socket: the
// terminals need binary frames, which only ServeWS speaks (the server
// calls it for endpoints that have it).
func (r *Registry) ServeSocket(ctx context.Context, c *socket.Conn, req *http.Request) error {
	err := socket.Errorf(socket.CodeNotConfigured, "the shell endpoint needs the raw connection (ServeWS)")
	c.SendError("", "", err)
	return c.Run(ctx, func(socket.Message) error { return err })
}
