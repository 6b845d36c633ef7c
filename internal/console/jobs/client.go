package jobs

import (
	"net/http"
	"strings"

	"wsdeck/internal/console/auth"
	"wsdeck/internal/fleet/batch"
)

// maxUserAgent bounds the User-Agent kept in an audit record.
const maxUserAgent = 256

// Client is who asked for a job: what the log and the audit record say
// about them.
type Client struct {
	Name       string // in a word, for logs and the page: "web 127.0.0.1:50312"
	RemoteAddr string // the address the connection came from
	UserAgent  string // as the client sent it, cut to 256 bytes
	Session    string // the login session's short key (it names the session, it opens nothing); "" if none
}

// clientOf describes the client of a request: its address, its
// User-Agent, and the login session auth's middleware put in its context
// (none for a bearer token). X-Forwarded-For is not used: anyone can send
// it, and the console is not meant to be behind a proxy.
func clientOf(r *http.Request) Client {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	c := Client{Name: "web " + r.RemoteAddr, RemoteAddr: r.RemoteAddr, UserAgent: ua}
	if s, ok := auth.SessionFrom(r.Context()); ok {
		c.Session = s.ShortKey()
	}
	return c
}

// writeAudit appends rec to the audit log, if there is one, and logs the
// log's new head: a copy of the chain's end outside the file, to compare
// with what wsdeck audit verify reports.
func (s *Service) writeAudit(rec batch.AuditRecord) error {
	if s.opts.Audit == nil {
		return nil
	}
	if err := s.opts.Audit.Write(rec); err != nil {
		return err
	}
	seq, head := s.opts.Audit.Head()
	s.opts.Logger.Info("exec: audit record", "job", rec.Job, "event", rec.Event, "seq", seq, "head", head)
	return nil
}
