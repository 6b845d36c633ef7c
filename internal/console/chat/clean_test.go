package chat

import (
	"strings"
	"testing"
)

func TestCleanNick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"ann", "ann", true},
		{"  ann  ", "ann", true},
		{"Zoë 🚀", "Zoë 🚀", true},
		{strings.Repeat("x", MaxNickRunes), strings.Repeat("x", MaxNickRunes), true},
		{strings.Repeat("é", MaxNickRunes), strings.Repeat("é", MaxNickRunes), true},
		{strings.Repeat("x", MaxNickRunes+1), "", false},
		{"", "", false},
		{"   ", "", false},
		{"a\nb", "", false},
		{"a\x00b", "", false},
		{"a\u202eb", "", false}, // right-to-left override
		{"\xff", "", false},
	}
	for _, tt := range tests {
		got, err := CleanNick(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CleanNick(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"two\nlines\tand a tab", "two\nlines\tand a tab"},
		{"fichier \u202etxt.exe", "fichier txt.exe"}, // right-to-left override
		{"\u202a\u202b\u202c\u202d\u202ex", "x"},     // embeddings, pop, overrides
		{"\u2066\u2067\u2068\u2069x", "x"},           // isolates
		{"a\x00b\rc\x1b[31md\u0085e\u009bf", "abc[31mdef"},
		{"שלום \u200fworld\u200e", "שלום \u200fworld\u200e"}, // RLM and LRM stay
		{"👩\u200d💻 co\u00adop", "👩\u200d💻 co\u00adop"},       // joiner, soft hyphen
		{"bad \xff byte", "bad \ufffd byte"},
	}
	for _, tt := range tests {
		if got := CleanText(tt.in); got != tt.want {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q       map[string][]string
		want    Since
		wantErr bool
	}{
		{map[string][]string{}, Since{}, false},
		{map[string][]string{"since": {"42"}, "epoch": {"e1"}}, Since{Set: true, Epoch: "e1", Seq: 42}, false},
		{map[string][]string{"since": {"0"}}, Since{Set: true, Seq: 0}, false},
		{map[string][]string{"since": {"-1"}}, Since{}, true},
		{map[string][]string{"since": {"x"}}, Since{}, true},
		{map[string][]string{"since": {"7"}, "psince": {"3"}, "epoch": {"e"}}, Since{Set: true, Epoch: "e", Seq: 7, PSeq: 3}, false},
		{map[string][]string{"since": {"7"}, "psince": {"y"}}, Since{}, true},
	}
	for _, tt := range tests {
		got, err := ParseSince(tt.q)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseSince(%v) = %+v, %v; want %+v, error %v", tt.q, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCheckRoom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"lobby", true},
		{"ops-2", true},
		{"0", true},
		{strings.Repeat("a", MaxRoomName), true},
		{strings.Repeat("a", MaxRoomName+1), false},
		{"", false},
		{"-ops", false},
		{"Ops", false},
		{"a.b", false}, // a subject's token separator
		{"a*", false},
		{"a>", false},
		{"a b", false},
		{"é", false},
	}
	for _, tt := range tests {
		if err := CheckRoom(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckRoom(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
