package batch

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	def := DefaultPolicy()
	lab, err := ParsePolicy("10.0.0.0/8, 192.0.2.7, *.lab.example.com, web??")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		p    *Policy
		name string
		want bool
	}{
		{def, "127.0.0.1", true},
		{def, "127.255.255.254", true},
		{def, "::1", true},
		{def, "::ffff:127.0.0.1", true}, // the same address, mapped
		{def, "localhost", true},
		{def, "LOCALHOST", true},
		{def, "local", true},
		{def, "10.0.0.1", false},
		{def, "0.0.0.0", false}, // connecting to it reaches this machine, but it is not loopback by name
		{def, "::", false},
		{def, "example.com", false},
		{def, "localhost.example.com", false},
		{lab, "10.1.2.3", true},
		{lab, "192.0.2.7", true},
		{lab, "192.0.2.8", false},
		{lab, "db1.lab.example.com", true},
		{lab, "lab.example.com", false},
		{lab, "web01", true},
		{lab, "web001", false},
		{lab, "local", false},
		{lab, "127.0.0.1", false},
	}
	// * and ? stop at dots, as TLS wildcards do; brackets are an
	// expression's number ranges.
	fleet, err := ParsePolicy("db*, *.lab.example.com, web[01-20].example.com, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, []struct {
		p    *Policy
		name string
		want bool
	}{
		{fleet, "db1", true},
		{fleet, "db", true},
		{fleet, "db.attacker.example", false},
		{fleet, "db1.attacker.example", false},
		{fleet, "x.lab.example.com", true},
		{fleet, "x.y.lab.example.com", false},
		{fleet, "web07.example.com", true},
		{fleet, "web7.example.com", false},
		{fleet, "web2.example.com", false}, // a character class [01-20] would allow it
		{lab, "web.1", false},
	}...)
	for _, tt := range tests {
		if got := tt.p.AllowName(tt.name); got != tt.want {
			t.Errorf("%q allows %q = %v, want %v", tt.p, tt.name, got, tt.want)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	hosts, err := hostexpr.Parse("127.0.0.1-3,10.0.0.[4,9,12],local,evil.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = DefaultPolicy().Check(hosts)
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "10.0.0.[4,9,12],evil.example.com") ||
		!strings.Contains(err.Error(), DefaultAllowHosts) {
		t.Errorf("Check = %v", err)
	}
	if err := DefaultPolicy().Check(hosts[:3]); err != nil {
		t.Errorf("Check of allowed hosts = %v", err)
	}
}

func TestPolicyAllowAddr(t *testing.T) {
	t.Parallel()
	p, err := ParsePolicy("127.0.0.0/8,::1/128,10.1.2.3,localhost,*.example.com,local")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"::1", true},
		{"fe80::1%lo", false},
		{"10.1.2.3", true},
		{"10.1.2.4", false},
		{"0.0.0.0", false},
	}
	for _, tt := range tests {
		if got := p.AllowAddr(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("AllowAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"10.0.0.0/33", "web[", "1.2.3.4/x", "10.0.0.*", "192.168.1.1-20", "web/01"} {
		if _, err := ParsePolicy(spec); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", spec)
		}
	}
}
