package hostexpr

import (
	"net"
	"strconv"
	"strings"
)

// LocalName is the name of the target that runs commands on this machine
// without SSH.
const LocalName = "local"

// Host is one target of an expression: a host name or IP address (IPv6
// without brackets), and the user and port written with it, if any.
// Host values are comparable; two equal values are the same target.
type Host struct {
	User string // "" when the expression gave none
	Name string // lower-case host name, canonical IP address, or LocalName
	Port int    // 0 when the expression gave none
}

// IsLocal reports whether h is the target local.
func (h Host) IsLocal() bool { return h.Name == LocalName && h.User == "" && h.Port == 0 }

// String returns h as it would be written in an expression:
// user@name:port, with brackets around an IPv6 address that has a port.
func (h Host) String() string {
	var b strings.Builder
	if h.User != "" {
		b.WriteString(h.User)
		b.WriteByte('@')
	}
	if h.Port != 0 {
		b.WriteString(net.JoinHostPort(h.Name, strconv.Itoa(h.Port)))
	} else {
		b.WriteString(h.Name)
	}
	return b.String()
}

// Addr returns the host:port to dial, using port when h has none.
func (h Host) Addr(port int) string {
	if h.Port != 0 {
		port = h.Port
	}
	return net.JoinHostPort(h.Name, strconv.Itoa(port))
}
