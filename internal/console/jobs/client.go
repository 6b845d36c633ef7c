package jobs

import (
	"net/http"
	"strings"

	"github.com/wsdeck/wsdeck/internal/console/auth"
)

// maxUserAgent bounds the User-Agent kept in an audit record.
const maxUserAgent = 256

// Client is who asked for a job: what the log, the record and the audit
// record say about them.
type Client struct {
	Name       string // in a word, for logs and the page: "web 127.0.0.1:50312"
	RemoteAddr string // the address the connection came from
	UserAgent  string // as the client sent it, cut to 256 bytes
	Session    string // the login session's short key (it names the session, it opens nothing); "" if none
	// Identity is who is logged in (auth.IdentityFrom): what they may
	// do is decided from it and the policy, for every message. A Client
	// without a role runs nothing.
	Identity auth.Identity
}

// clientOf describes the client of a request: its address, its
// User-Agent, and the login session and identity auth's middleware put in
// its context (no session for a bearer token; no identity, so no role,
// for a request that did not pass the middleware). X-Forwarded-For is not
// used: anyone can send it.
func clientOf(r *http.Request) Client {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	c := Client{Name: "web " + r.RemoteAddr, RemoteAddr: r.RemoteAddr, UserAgent: ua}
	if s, ok := auth.SessionFrom(r.Context()); ok {
		c.Session = s.ShortKey()
	}
	c.Identity, _ = auth.IdentityFrom(r.Context())
	return c
}
