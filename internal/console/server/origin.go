package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// checkOrigin is the Origin check of websocket.Accept (which makes it
// again, the same way): it allows a request without an Origin header (not
// from a browser), one from the request's own origin (scheme, host and
// port), and one whose origin matches a pattern of
// websocket.AcceptOptions.OriginPatterns. The server makes it before the
// connection caps, so that a page of another origin learns nothing of
// them, and for the plain GETs that Accept never sees.
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("malformed Origin %q", origin)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if strings.EqualFold(u.Scheme, scheme) && sameHostPort(u.Host, r.Host, scheme) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil // New checked the patterns
		}
	}
	return fmt.Errorf("origin %q is not allowed for host %q", origin, r.Host)
}

// sameHostPort compares two host[:port] strings, the port defaulting to
// the scheme's.
func sameHostPort(a, b, scheme string) bool {
	ah, ap := splitHostPort(a, scheme)
	bh, bp := splitHostPort(b, scheme)
	return strings.EqualFold(ah, bh) && ap == bp
}

func splitHostPort(hp, scheme string) (host, port string) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		host, port = strings.Trim(hp, "[]"), ""
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return host, port
}
