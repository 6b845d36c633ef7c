package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostPolicy says which names in a Host header the console answers to.
//
// A DNS-rebinding page reaches the console under its own name (its DNS
// now points here), and the browser sends that name as Host, with the
// user's cookies if the page is on the console's port. So the console
// answers only to names it knows: loopback names ("localhost" and
// "*.localhost", which browsers resolve themselves), IP addresses (no
// DNS, nothing to rebind, as Vite allows them), the host of the listen
// address if it is a name, and AllowHosts.
type hostPolicy struct {
	any      bool
	names    map[string]bool
	suffixes []string // ".example.com": the domain and its subdomains
}

func newHostPolicy(allow []string, listenAddr string) (hostPolicy, error) {
	p := hostPolicy{names: map[string]bool{}}
	if h, _, err := net.SplitHostPort(listenAddr); err == nil && h != "" {
		p.names[normalHost(h)] = true
	}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		switch {
		case a == "*":
			p.any = true
		case a == "" || strings.ContainsAny(a, "*/ "):
			return p, fmt.Errorf("allowed host %q: want a name, .domain or *", a)
		case strings.HasPrefix(a, "."):
			p.suffixes = append(p.suffixes, normalHost(a))
		default:
			p.names[normalHost(a)] = true
		}
	}
	return p, nil
}

// normalHost returns the host of a Host header or name, without its port
// or brackets, in lower case, without a trailing dot.
func normalHost(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

// allowed reports whether the console answers to the Host header h.
func (p *hostPolicy) allowed(h string) bool {
	host := normalHost(h)
	switch {
	case p.any:
		return true
	case host == "":
		return false
	case isLocalhost(host):
		return true
	case p.names[host]:
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	for _, s := range p.suffixes {
		if host == s[1:] || strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// isLocalhost reports whether host (normalized) is a loopback name or
// address: localhost, *.localhost (RFC 6761), 127.0.0.0/8 or ::1.
func isLocalhost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

var errHost = errors.New("host not allowed")

// checkHost refuses, with 403, a request whose Host the console does not
// answer to. /healthz is exempt: it says only "ok", needs no credentials,
// and a load balancer's probe may name the backend any way it likes.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || s.hosts.allowed(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		s.metrics.Refused(s.endpointOf(r), "host")
		s.log.Info("request refused: host not allowed", "host", r.Host, "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, fmt.Sprintf("wsdeck: %v: %q. This console answers to localhost, IP addresses and the names given "+
			"with --allow-host. If you meant to reach it by that name, restart it with --allow-host %s.",
			errHost, r.Host, normalHost(r.Host)), http.StatusForbidden)
	})
}

// securityHeaders sets the headers every response carries: no sniffing,
// no framing (clickjacking), no referrer, and under TLS Strict-Transport-
// Security, except to loopback names: browsers ignore it from addresses,
// and from "localhost" it would bind every port of localhost, other
// programs' included, to HTTPS.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if s.hsts != "" && !isLocalhost(normalHost(r.Host)) {
			h.Set("Strict-Transport-Security", s.hsts)
		}
		next.ServeHTTP(w, r)
	})
}
