package hostexpr

import (
	"slices"
	"testing"
)

func TestFold(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, expr, want string }{
		{"tutorial summary", "127.0.0.1-5,127.0.0.7", "127.0.0.[1-5,7]"},
		{"failed list", "127.0.0.4,127.0.0.9,127.0.0.12", "127.0.0.[4,9,12]"},
		{"single", "127.0.0.4", "127.0.0.4"},
		{"padded", "web01,web02,web03", "web[01-03]"},
		{"padding past its width", "n098,n099,n100", "n[098-100]"},
		{"unpadded across a width", "n9,n10,n11", "n[9-11]"},
		{"padded and unpadded apart", "n1,n01,n2,n02", "n[01-02,1-2]"},
		{"two dimensions", "127.0.[0-3].[1-254]", "127.0.[0-3].[1-254]"},
		{"two groups", "r[1-2]n[1-3]", "r[1-2]n[1-3]"},
		{"rows that differ stay apart", "127.0.0.1,127.0.1.2", "127.0.0.1,127.0.1.2"},
		{"whole-address range", "10.0.0.254-10.0.1.2", "10.0.0.[254-255],10.0.1.[0-2]"},
		{"users and ports fold apart", "root@a1,root@a2,a3,a4:22,a5:22", "root@a[1-2],a3,a[4-5]:22"},
		{"order of first host", "b1,a1,b2", "b[1-2],a1"},
		{"ipv6 and local as they are", "::1,local,[::2]:22,x1,x2", "::1,local,[::2]:22,x[1-2]"},
		{"long digit runs are text", "h1234567890,h1234567891", "h1234567890,h1234567891"},
		{"different shapes", "web1,web1a,web2a", "web1,web[1-2]a"},
		{"domain suffix", "web[1-3].example.com,db1.example.com", "web[1-3].example.com,db1.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hosts, err := Parse(tt.expr, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := Fold(hosts)
			if got != tt.want {
				t.Errorf("Fold(%s) = %s, want %s", tt.expr, got, tt.want)
			}
			checkRoundTrip(t, hosts, DefaultMaxHosts)
		})
	}
}

func TestFoldNames(t *testing.T) {
	t.Parallel()
	if got := FoldNames([]string{"web3", "web1", "web2", "web1"}); got != "web[1-3]" {
		t.Errorf("FoldNames = %q", got)
	}
	if got := Fold(nil); got != "" {
		t.Errorf("Fold(nil) = %q", got)
	}
}

// checkRoundTrip checks that Fold(hosts) parses back to the same set.
func checkRoundTrip(t *testing.T, hosts []Host, max int) {
	t.Helper()
	folded := Fold(hosts)
	again, err := Parse(folded, &Options{MaxHosts: max})
	if err != nil {
		t.Fatalf("Parse(Fold(hosts)) = Parse(%q): %v", folded, err)
	}
	a, b := sorted(hosts), sorted(again)
	if !slices.Equal(a, b) {
		t.Fatalf("Parse(Fold(hosts)) differs:\n hosts  %v\n folded %q\n again  %v", a, folded, b)
	}
}

func sorted(hosts []Host) []string {
	s := make([]string, len(hosts))
	for i, h := range hosts {
		s[i] = h.String()
	}
	slices.Sort(s)
	return slices.Compact(s)
}
