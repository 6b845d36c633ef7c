package jobs

import (
	"strconv"
	"testing"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

// TestOutputCapAtLine: the console's viewers get the engine's cut between
// lines: whole lines up to the cap, never a fragment of the line that
// crossed it, then the capped event in the same stream.
func TestOutputCapAtLine(t *testing.T) {
	s := newService(t, Options{Job: batch.Config{MaxOutput: 100}})
	id := start(t, s, "local", "seq 1 100000", Client{Name: "test"})
	events, _ := jobEvents(t, s, id)
	var lines []string
	capped := -1
	for _, e := range events {
		switch e.E {
		case "out":
			if capped >= 0 {
				t.Errorf("output after the capped event: %q", e.Lines)
			}
			lines = append(lines, e.Lines...)
		case "capped":
			capped = len(lines)
			if e.S != "stdout" {
				t.Errorf("capped on %q, want stdout", e.S)
			}
		}
	}
	// seq's whole lines within 100 bytes: 1 to 36 (99 bytes).
	if len(lines) != 36 || capped != 36 {
		t.Fatalf("%d lines, capped after %d: %q", len(lines), capped, lines)
	}
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			t.Errorf("line %d is %q", i+1, l)
		}
	}
}
