package hostexpr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// names returns the hosts as written, joined by spaces.
func names(hosts []Host) string {
	s := make([]string, len(hosts))
	for i, h := range hosts {
		s[i] = h.String()
	}
	return strings.Join(s, " ")
}

// seq returns "prefix<lo> ... prefix<hi>".
func seq(prefix string, lo, hi int) string {
	var s []string
	for i := lo; i <= hi; i++ {
		s = append(s, fmt.Sprint(prefix, i))
	}
	return strings.Join(s, " ")
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr string
		opts       *Options
		want       string
	}{
		{"tutorial range", "127.0.0.1-5", nil, seq("127.0.0.", 1, 5)},
		{"range of one", "127.0.0.9-9", nil, "127.0.0.9"},
		{"whole-address range", "10.0.0.254-10.0.1.2", nil, "10.0.0.254 10.0.0.255 10.0.1.0 10.0.1.1 10.0.1.2"},
		{"cidr /28", "192.168.1.0/28", nil, seq("192.168.1.", 1, 14)},
		{"cidr /30", "192.168.1.0/30", nil, "192.168.1.1 192.168.1.2"},
		{"cidr /31", "192.168.1.0/31", nil, "192.168.1.0 192.168.1.1"},
		{"cidr /32", "192.168.1.7/32", nil, "192.168.1.7"},
		{"cidr host bits masked", "192.168.1.77/30", nil, "192.168.1.77 192.168.1.78"},
		{"ipv6 cidr", "fd00::/126", nil, "fd00:: fd00::1 fd00::2 fd00::3"},
		{"brackets padded", "web[01-03,10].example.com", nil, "web01.example.com web02.example.com web03.example.com web10.example.com"},
		{"brackets padding kept past width", "n[098-101]", nil, "n098 n099 n100 n101"},
		{"brackets unpadded", "n[9-11]", nil, "n9 n10 n11"},
		{"two groups, last fastest", "r[1-2]n[1-3]", nil, "r1n1 r1n2 r1n3 r2n1 r2n2 r2n3"},
		{"brackets in an address", "127.0.0.[1-3,7]", nil, "127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.7"},
		{"brackets in two octets", "127.0.[0-1].[1-2]", nil, "127.0.0.1 127.0.0.2 127.0.1.1 127.0.1.2"},
		{"list with commas", "a,b,c", nil, "a b c"},
		{"list with spaces and newlines", "a b\tc\nd\r\n", nil, "a b c d"},
		{"empty items skipped", ",a,,b,", nil, "a b"},
		{"user and port", "root@web1:2222", nil, "root@web1:2222"},
		{"user on a range", "admin@127.0.0.1-2", nil, "admin@127.0.0.1 admin@127.0.0.2"},
		{"port on brackets", "web[1-2]:22", nil, "web1:22 web2:22"},
		{"ipv6 with port", "[::1]:22", nil, "[::1]:22"},
		{"ipv6 with zone and port", "[fe80::1%eth0]:22", nil, "[fe80::1%eth0]:22"},
		{"ipv6 with user and port", "root@[0:0::1]:2200", nil, "root@[::1]:2200"},
		{"bare ipv6 canonical", "0000::0001", nil, "::1"},
		{"ipv6 in brackets, no port", "[::1]", nil, "::1"},
		{"local", "local", nil, "local"},
		{"local any case", "LOCAL,127.0.0.1", nil, "local 127.0.0.1"},
		{"names lower-cased", "Web1.Example.COM", nil, "web1.example.com"},
		{"duplicates removed, order kept", "b,a,b,127.0.0.2,127.0.0.1-3", nil, "b a 127.0.0.2 127.0.0.1 127.0.0.3"},
		{"user and port make different targets", "a,root@a,a:22,a", nil, "a root@a a:22"},
		{"exclusion", "127.0.0.1-6,!127.0.0.[2-3]", nil, "127.0.0.1 127.0.0.4 127.0.0.5 127.0.0.6"},
		{"exclusion before the hosts", "!127.0.0.2 127.0.0.1-3", nil, "127.0.0.1 127.0.0.3"},
		{"exclusion of a prefix takes all of it", "127.0.0.1-100,!127.0.0.0/26", nil, seq("127.0.0.", 64, 100)},
		{"exclusion by range", "10.0.0.[1-5],!10.0.0.2-4", nil, "10.0.0.1 10.0.0.5"},
		{"exclusion without port removes every port", "a:22,a:23,b,!a", nil, "b"},
		{"exclusion with port removes that port", "a:22,a:23,!a:23", nil, "a:22"},
		{"exclusion with user", "root@a,bob@a,!root@a", nil, "bob@a"},
		{"exclusion of a pattern", "n[01-10],!n[02-09]", nil, "n01 n10"},
		{"pattern exclusion respects padding", "n1,n01,!n[01]", nil, "n1"},
		{"Options.Exclude", "127.0.0.1-5", &Options{Exclude: "127.0.0.2,127.0.0.4"}, "127.0.0.1 127.0.0.3 127.0.0.5"},
		{"exclude local", "local,a", &Options{Exclude: "local"}, "a"},
		{"exactly the cap", "127.0.0.1-10", &Options{MaxHosts: 10}, seq("127.0.0.", 1, 10)},
		{"underscore and dash names", "my_host-1", nil, "my_host-1"},
		{"trailing dot", "example.com.", nil, "example.com."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hosts, err := Parse(tt.expr, tt.opts)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := names(hosts); got != tt.want {
				t.Errorf("Parse(%q)\n got  %s\n want %s", tt.expr, got, tt.want)
			}
			n, err := Count(tt.expr)
			if err != nil || n < uint64(len(hosts)) {
				t.Errorf("Count(%q) = %d, %v; want at least %d", tt.expr, n, err, len(hosts))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr     string
		col      int    // 1-based column of the bad part
		fragment string // the bad part
		msg      string // part of the message
	}{
		{"web[1-3", 4, "[1-3", "'[' without ']'"},
		{"web1-3]", 7, "]", "']' without '['"},
		{"web[1-[2]]", 7, "[", "inside brackets"},
		{"web[1- 3]", 7, " ", "white space inside brackets"},
		{"web[]", 4, "[]", "empty brackets"},
		{"web[1,,2]", 7, ",", "empty item"},
		{"web[a-3]", 5, "a", "bad number"},
		{"web[1-b]", 7, "b", "bad number"},
		{"web[5-1]", 5, "5-1", "ends before it starts"},
		{"web[1-05]", 5, "1-05", "zero padding"},
		{"web[1234567890]", 5, "1234567890", "up to 9 digits"},
		{"web[1-2]!x", 9, "!", "unexpected character"},
		{"127.0.0.[250-260]", 1, "127.0.0.[250-260]", `expands to "127.0.0.256": bad IPv4 address`},
		{"10.0.0.[1]-5", 1, "10.0.0.[1]-5", "IPv4 range where a single host"},
		{"127.0.0.1-300", 11, "300", "bad last octet"},
		{"127.0.0.5-1", 1, "127.0.0.5-1", "ends before it starts"},
		{"10.0.0.9-10.0.0.1", 1, "10.0.0.9-10.0.0.1", "ends before it starts"},
		{"10.0.0.1-10.0.1", 10, "10.0.1", "bad IPv4 address at the end"},
		{"127.0.0.256", 1, "127.0.0.256", "bad IPv4 address"},
		{"1.2.3", 1, "1.2.3", "bad IPv4 address"},
		{"127.0.0.01", 1, "127.0.0.01", "bad IPv4 address"},
		{"10.0.0.0/33", 1, "10.0.0.0/33", "bad CIDR prefix"},
		{"ok,web:99999", 7, ":99999", "bad port"},
		{"web:0", 4, ":0", "bad port"},
		{"web:", 4, ":", "bad port"},
		{"web:2x", 4, ":2x", "bad port"},
		{"[::1]x", 6, "x", "expected :port"},
		{"[::g]:22", 2, "::g", "bad IPv6 address"},
		{"[1.2.3.4:5]", 2, "1.2.3.4:5", "bad IPv6 address"},
		{"fe80::1::2", 1, "fe80::1::2", "bad IPv6 address"},
		{"[::%,]", 2, "::%,", "bad IPv6 address"}, // a zone Fold could not write back
		{"fe80::1%a/b", 1, "fe80::1%a/b", "bad IPv6"},
		{"@web", 1, "@", "empty user"},
		{"r#t@web", 2, "#", "unexpected character in user name"},
		{"-r@web", 1, "-r", "starts with '-'"},
		{"a@b@c", 4, "@", "a second '@'"},
		{"a,we$b", 5, "$", "unexpected character in host name"},
		{"-web", 1, "-web", "starts with '-'"},
		{"a..b", 3, ".b", "empty label"},
		{"root@", 1, "root@", "missing host name"},
		{":22", 1, ":22", "missing host name"},
		{"root@local", 1, "root@local", "local takes no user or port"},
		{"local:22", 1, "local:22", "local takes no user or port"},
		{"a,!", 3, "!", "'!' without a term"},
		{"!!a", 2, "!", "'!' twice"},
		{"web" + strings.Repeat("x", 260), 254, strings.Repeat("x", 10), "longer than 253"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.expr, nil)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.expr, err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want a *SyntaxError", tt.expr, err)
			}
			if se.Offset+1 != tt.col || !strings.HasPrefix(se.Fragment(), tt.fragment) || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q):\n got  column %d, fragment %q, %q\n want column %d, fragment %q, %q",
					tt.expr, se.Offset+1, se.Fragment(), se.Msg, tt.col, tt.fragment, tt.msg)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("column %d", tt.col)) {
				t.Errorf("Error() = %q does not say the column", err)
			}
		})
	}
}

func TestCaret(t *testing.T) {
	t.Parallel()
	_, err := Parse("web01,web:99999", nil)
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got %v", err)
	}
	want := "web01,web:99999\n         ^^^^^^"
	if got := se.Caret(); got != want {
		t.Errorf("Caret():\n%s\nwant:\n%s", got, want)
	}
}

func TestNoHosts(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"", " , ", "127.0.0.1-3,!127.0.0.0/24", "!a"} {
		if _, err := Parse(expr, nil); !errors.Is(err, ErrNoHosts) {
			t.Errorf("Parse(%q) = %v, want ErrNoHosts", expr, err)
		}
	}
	if _, err := Parse("a", &Options{Exclude: "a"}); !errors.Is(err, ErrNoHosts) {
		t.Errorf("Parse(a, Exclude a) = %v, want ErrNoHosts", err)
	}
	if _, err := Parse("a", &Options{Exclude: "b["}); err == nil {
		t.Errorf("a malformed Exclude was accepted")
	}
}

func TestCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr     string
		max      int
		fragment string // the biggest term, which the error points at
	}{
		{"127.0.0.1-11", 10, "127.0.0.1-11"},
		{"a,10.0.0.0/8", 0, "10.0.0.0/8"},
		{"::/0", 0, "::/0"},
		{"fd00::/64", 0, "fd00::/64"},
		{"0.0.0.0-255.255.255.255", 0, "0.0.0.0-255.255.255.255"},
		{"n[1-999999999]", 0, "n[1-999999999]"},
		{"n[1-999999999]m[1-999999999]o[1-999999999]", 0, "n[1-999999999]m[1-999999999]o[1-999999999]"},
		{"127.0.0.1-4,127.0.0.1-4", 7, "127.0.0.1-4"},             // counted before duplicates go
		{"127.0.0.1-200,!127.0.0.0/24", 100, "127.0.0.1-200"},     // and before exclusions
		{"127.0.0.[1-100],127.0.0.[1-100]", 0, "127.0.0.[1-100]"}, // under the default
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.expr, &Options{MaxHosts: tt.max})
			if tt.expr == "127.0.0.[1-100],127.0.0.[1-100]" {
				if err != nil {
					t.Fatalf("200 hosts under the default cap: %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.Is(err, ErrTooManyHosts) || !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want a SyntaxError wrapping ErrTooManyHosts", tt.expr, err)
			}
			if se.Fragment() != tt.fragment {
				t.Errorf("error points at %q, want %q", se.Fragment(), tt.fragment)
			}
		})
	}
}

// TestCapAllocatesNothing checks that the cap is enforced before anything
// is expanded: refusing 10.0.0.0/8 or ::/0 costs a few allocations, not
// sixteen million addresses.
func TestCapAllocatesNothing(t *testing.T) {
	for _, expr := range []string{"10.0.0.0/8", "::/0", "n[0-999999999]", "0.0.0.0-255.255.255.255"} {
		allocs := testing.AllocsPerRun(10, func() {
			if _, err := Parse(expr, nil); err == nil {
				t.Fatal("accepted")
			}
		})
		if allocs > 20 {
			t.Errorf("Parse(%q) refused with %.0f allocations, want a handful", expr, allocs)
		}
	}
}

// TestExcludeLargeIsCheap checks that exclusions are matched, not expanded.
func TestExcludeLargeIsCheap(t *testing.T) {
	allocs := testing.AllocsPerRun(10, func() {
		hosts, err := Parse("10.1.2.3,10.200.0.1", &Options{Exclude: "10.0.0.0/9,::/0,n[1-999999999]"})
		if err != nil || len(hosts) != 1 {
			t.Fatalf("got %v, %v", hosts, err)
		}
	})
	if allocs > 60 {
		t.Errorf("%.0f allocations, want a few dozen", allocs)
	}
}

func TestHostAddr(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		h    Host
		port int
		want string
	}{
		{Host{Name: "web1"}, 22, "web1:22"},
		{Host{Name: "web1", Port: 2222}, 22, "web1:2222"},
		{Host{Name: "::1"}, 22, "[::1]:22"},
	} {
		if got := tt.h.Addr(tt.port); got != tt.want {
			t.Errorf("%v.Addr(%d) = %q, want %q", tt.h, tt.port, got, tt.want)
		}
	}
}
