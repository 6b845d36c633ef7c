package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteKeepsHandSections: rewriting a report keeps the sections marked
// as written by hand, once, after what the run wrote, and drops the rest
// of the old file; a "## " line in a code block starts no section, and a
// mark further down a section does not count.
func TestWriteKeepsHandSections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	old := strings.Join([]string{
		"# old title",
		"",
		"## Old generated section",
		"",
		"stale figures",
		"",
		"## Fleet Monitor",
		"",
		HandMark,
		"",
		"figures written by hand",
		"```",
		"## not a section",
		"```",
		"more by hand",
		"",
		"## Another generated one",
		"",
		"text",
		HandMark, // not right under the title
		"",
		"## Terminal notes",
		HandMark,
		"kept too",
	}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &report{cfg: Config{Out: path, Measure: []string{"echo"}, Servers: []string{"wsdeck", "gws"}}}
	for range 2 { // a report is rewritten after each table
		if err := r.write(path); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"## Fleet Monitor", "figures written by hand", "## not a section", "more by hand", "## Terminal notes", "kept too"} {
		if n := strings.Count(got, want); n != 1 {
			t.Errorf("%q is in the new report %d times, want once:\n%s", want, n, got)
		}
	}
	for _, gone := range []string{"Old generated section", "stale figures", "Another generated one"} {
		if strings.Contains(got, gone) {
			t.Errorf("%q kept from the old report:\n%s", gone, got)
		}
	}
	if i, j := strings.Index(got, "## Fleet Monitor"), strings.Index(got, "## Terminal notes"); i > j || i < strings.Index(got, "# wsdeck WebSocket benchmark results") {
		t.Errorf("kept sections out of order or before the run's own:\n%s", got)
	}
}
