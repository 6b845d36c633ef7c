package hostexpr

import (
	"errors"
	"testing"
)

// fuzzMax is the cap in FuzzParse: small, so each input is cheap.
const fuzzMax = 512

// FuzzParse checks that Parse never panics, stays within the cap, reports
// errors with a position inside the expression, returns no duplicates, and
// that what Fold makes of its hosts parses back to the same set. Seeds are
// the table tests' expressions plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1-100", "10.0.0.1-10.0.1.20", "192.168.1.0/28", "web[01-20,25].example.com",
		"a,b c", "root@web1:2222", "[::1]:22", "fd00::/120", "local", "127.0.0.1-10,!127.0.0.5",
		"r[1-2]n[08-11]", "127.0.[0-3].[1-254]", "n1,n01", "web[1-3", "x@y@z", "::/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		hosts, err := Parse(expr, &Options{MaxHosts: fuzzMax})
		if err != nil {
			var se *SyntaxError
			switch {
			case errors.As(err, &se):
				if se.Offset < 0 || se.Offset > len(expr) || se.Offset+se.Len > len(expr) || se.Expr != expr {
					t.Fatalf("SyntaxError out of the expression: offset %d len %d, expression %d bytes", se.Offset, se.Len, len(expr))
				}
			case !errors.Is(err, ErrNoHosts):
				t.Fatalf("error of an unexpected kind: %v", err)
			}
			return
		}
		if len(hosts) == 0 || len(hosts) > fuzzMax {
			t.Fatalf("%d hosts, cap %d", len(hosts), fuzzMax)
		}
		seen := map[Host]bool{}
		for _, h := range hosts {
			if seen[h] {
				t.Fatalf("duplicate %v", h)
			}
			seen[h] = true
		}
		n, err := Count(expr)
		if err != nil || n < uint64(len(hosts)) {
			t.Fatalf("Count = %d, %v for %d hosts", n, err, len(hosts))
		}
		checkRoundTrip(t, hosts, fuzzMax)
	})
}
