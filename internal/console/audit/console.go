package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wsdeck/wsdeck/websocket"
)

// ConsoleOptions say how to read the audit log through a running
// console, whose /ws/exec answers "audit" requests (docs/protocol.md).
type ConsoleOptions struct {
	// URL is the console's address: http://host:port or https://...
	URL string
	// Token is the console's login token, sent as a bearer token.
	Token string
	// From is the first sequence wanted (0: the oldest).
	From uint64
	// Follow keeps reading new records until ctx is done.
	Follow bool
	// Dial configures the connection; nil means the defaults.
	Dial *websocket.DialOptions
}

// ReadConsole calls fn with the audit log's records, oldest first, read
// through the console at o.URL, and with o.Follow the later ones as they
// are stored, until ctx is done (it then returns nil). It returns fn's
// first error, or why the console could not be read.
func ReadConsole(ctx context.Context, o ConsoleOptions, fn func(Record) error) error {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("console URL %q: want http://host:port", o.URL)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return fmt.Errorf("console URL %q: want http:// or https://", o.URL)
	}
	u.Path, u.RawQuery = strings.TrimSuffix(u.Path, "/")+"/ws/exec", ""
	var d websocket.DialOptions
	if o.Dial != nil {
		d = *o.Dial
	}
	d.HTTPHeader = d.HTTPHeader.Clone()
	if d.HTTPHeader == nil {
		d.HTTPHeader = http.Header{}
	}
	d.HTTPHeader.Set("Authorization", "Bearer "+o.Token)
	c, _, err := websocket.Dial(ctx, u.String(), &d)
	if err != nil {
		return fmt.Errorf("console %s: %w", u.Redacted(), err)
	}
	defer c.CloseNow()
	r := consoleReader{c: c}
	next := o.From
	for n := 1; ; n++ {
		m, err := r.request(ctx, map[string]any{"type": "audit", "id": fmt.Sprint(n), "from": next})
		if err != nil {
			return err
		}
		for _, rec := range m.Records {
			if err := fn(rec); err != nil {
				return err
			}
		}
		next = m.Next
		if !m.More {
			break
		}
	}
	if !o.Follow {
		c.Close(websocket.StatusNormalClosure, "")
		return nil
	}
	// The follow's first reply holds what was stored since the reads
	// above; the live records follow it.
	m, err := r.request(ctx, map[string]any{"type": "audit", "id": "follow", "from": next, "follow": true})
	for ; err == nil; m, err = r.next(ctx) {
		for _, rec := range m.Records {
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return nil // the end of following
	}
	return err
}

// consoleReader reads the audit replies of /ws/exec, skipping its other
// messages.
type consoleReader struct {
	c *websocket.Conn
}

type consoleMsg struct {
	Type    string   `json:"type"`
	ID      string   `json:"id"`
	Code    string   `json:"code"`
	Error   string   `json:"error"`
	Records []Record `json:"records"`
	Next    uint64   `json:"next"`
	More    bool     `json:"more"`
}

// request sends req and returns the audit reply to it.
func (r *consoleReader) request(ctx context.Context, req map[string]any) (consoleMsg, error) {
	b, _ := json.Marshal(req)
	if err := r.c.Write(ctx, websocket.MessageText, b); err != nil {
		return consoleMsg{}, fmt.Errorf("console: %w", err)
	}
	for {
		m, err := r.read(ctx)
		if err != nil {
			return m, err
		}
		if m.Type == "audit" && m.ID == req["id"] {
			return m, nil
		}
	}
}

// next returns the next audit message.
func (r *consoleReader) next(ctx context.Context) (consoleMsg, error) {
	for {
		m, err := r.read(ctx)
		if err != nil || m.Type == "audit" {
			return m, err
		}
	}
}

// read reads one message, returning an error message as an error.
func (r *consoleReader) read(ctx context.Context) (consoleMsg, error) {
	_, b, err := r.c.Read(ctx)
	if err != nil {
		return consoleMsg{}, fmt.Errorf("console: %w", err)
	}
	var m consoleMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("console: %w", err)
	}
	if m.Type == "error" {
		return m, fmt.Errorf("console: %s: %s", m.Code, m.Error)
	}
	return m, nil
}
