package hostexpr

import (
	"errors"
	"strings"
	"testing"
)

func TestNamePattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		// * stays within a label, as in TLS wildcards.
		{"db*", "db", true},
		{"db*", "db1", true},
		{"db*", "db-primary", true},
		{"db*", "db.attacker.example", false},
		{"db*", "db1.attacker.example", false},
		{"*.lab.example.com", "db1.lab.example.com", true},
		{"*.lab.example.com", "lab.example.com", false},
		{"*.lab.example.com", "a.db1.lab.example.com", false},
		{"*.lab.example.com", "db1.lab.example.com.attacker.example", false},
		{"*", "localhost", true},
		{"*", "www.example.com", false},
		{"*.*", "www.example", true},
		{"*.*", "a.b.c", false},
		{"web*.example.com", "web.example.com", true},
		{"web*.example.com", "web01.example.com", true},
		{"web*.example.com", "web01.evil.example.com", false},
		{"*-db*.example.com", "eu-db1.example.com", true},
		{"*-db*.example.com", "eu.x-db1.example.com", false},
		{"**", "a", true},
		{"**", "a.b", false},
		// ? is one character, never a dot.
		{"web??", "web01", true},
		{"web??", "web001", false},
		{"web??", "web.1", false},
		{"web?", "web", false},
		// Bracket groups mean what they mean in expressions.
		{"web[01-20].example.com", "web07.example.com", true},
		{"web[01-20].example.com", "web7.example.com", false},
		{"web[01-20].example.com", "web21.example.com", false},
		{"web[01-20,25].example.com", "web25.example.com", true},
		{"rack[1-2]-*", "rack2-node9", true},
		{"rack[1-2]-*", "rack3-node9", false},
		// Case, literals, lengths.
		{"LocalHost", "localhost", true},
		{"localhost", "LOCALHOST", true},
		{"localhost", "localhost.example.com", false},
		{"localhost", "localhos", false},
		{"*", strings.Repeat("a", 253), true},
		{"*", strings.Repeat("a", 254), false},
		{"*", "", true},
	}
	for _, tt := range tests {
		p, err := ParseNamePattern(tt.pattern)
		if err != nil {
			t.Errorf("ParseNamePattern(%q): %v", tt.pattern, err)
			continue
		}
		if got := p.Match(tt.name); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestNamePatternErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, fragment string
	}{
		{"", ""},
		{"web[", "["},
		{"web[]", "[]"},
		{"web[1-x]", "x"},
		{"web/01", "/"},
		{"web 01", " "},
		{"a,b", ","},
	}
	for _, tt := range tests {
		_, err := ParseNamePattern(tt.pattern)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseNamePattern(%q) = %v, want a *SyntaxError", tt.pattern, err)
			continue
		}
		if se.Fragment() != tt.fragment {
			t.Errorf("ParseNamePattern(%q): %v marks %q, want %q", tt.pattern, err, se.Fragment(), tt.fragment)
		}
	}
}

// TestNamePatternStars: many stars against a long name that does not
// match finish at once (the failed states are remembered).
func TestNamePatternStars(t *testing.T) {
	t.Parallel()
	p, err := ParseNamePattern(strings.Repeat("*a", 40) + "b")
	if err != nil {
		t.Fatal(err)
	}
	if p.Match(strings.Repeat("a", 250)) {
		t.Error("matched a name without b")
	}
}
