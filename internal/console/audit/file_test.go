package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start := Record{Event: "start", Job: "j1", Client: "127.0.0.1:5555", Expression: "127.0.0.1-2", Hosts: 2, Command: "uptime"}
	results := []*batch.Result{
		{Host: "127.0.0.1", Status: batch.StatusOK, ExitCode: 0},
		{Host: "127.0.0.2", Status: batch.StatusExit, ExitCode: 3},
	}
	end := EndRecord(start, results, &batch.Summary{OK: 1, Failed: 1, Elapsed: 1500 * time.Millisecond})
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := end
			rec.Job = fmt.Sprint(i)
			rec.Seq, rec.Prev = 99, "forged" // Write sets both
			if err := l.Write(rec); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seq, head := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(start); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	jobs := map[string]bool{}
	for i := 1; sc.Scan(); i++ {
		var got struct {
			Seq     uint64 `json:"seq"`
			Event   string `json:"event"`
			Job     string `json:"job"`
			Hosts   int    `json:"hosts"`
			Command string `json:"command"`
			Results []struct {
				Host     string `json:"host"`
				Status   string `json:"status"`
				ExitCode int    `json:"exit_code"`
			} `json:"results"`
			Failed    int       `json:"failed"`
			ElapsedMS int64     `json:"elapsed_ms"`
			Time      time.Time `json:"time"`
		}
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		jobs[got.Job] = true
		if got.Seq != uint64(i) || got.Event != "end" || got.Hosts != 2 || got.Command != "uptime" || len(got.Results) != 2 ||
			got.Results[1].Status != "exit" || got.Results[1].ExitCode != 3 || got.Failed != 1 ||
			got.ElapsedMS != 1500 || got.Time.IsZero() {
			t.Errorf("record %d: %s", i, sc.Text())
		}
	}
	if len(jobs) != n {
		t.Errorf("%d records, want %d", len(jobs), n)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	rep := verify(t, path)
	if !rep.OK() || rep.Records != n || rep.Last != n || rep.Last != seq || rep.Head != head {
		t.Errorf("verify: %+v; Head() %d %s", rep, seq, head)
	}
}

// TestAuditLogLocked: one process writes a log at a time.
func TestAuditLogLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := OpenFile(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second open = %v, want in use", err)
		if b != nil {
			b.Close()
		}
	}
	a.Close()
	b, err := OpenFile(path)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	b.Close()
}

// writeAudit writes n records to a new log at path (numbered in Job) and
// returns the file's lines.
func writeAudit(t *testing.T, path string, from, n int) []string {
	t.Helper()
	l, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := from; i < from+n; i++ {
		if err := l.Write(Record{Event: "start", Job: fmt.Sprint("job", i), Command: "uptime", Hosts: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return readLines(t, path)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")]
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, path string) *Report {
	t.Helper()
	rep, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestAuditVerify: each kind of tampering is reported at its line, and an
// intact log is OK.
func TestAuditVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func([]string) []string
		want   []Finding // Detail is checked for a prefix
	}{
		{"intact", func(l []string) []string { return l }, nil},
		{"edited", func(l []string) []string {
			l[2] = strings.Replace(l[2], "uptime", "true", 1)
			return l
		}, []Finding{{3, FindingEdited, "its hash is not the prev of record 4"}}},
		{"middle record removed", func(l []string) []string {
			return append(l[:2:2], l[3:]...)
		}, []Finding{{3, FindingGap, "record 3 removed before this line"}}},
		{"two records removed", func(l []string) []string {
			return append(l[:1:1], l[3:]...)
		}, []Finding{{2, FindingGap, "records 2-3 removed"}}},
		{"first record removed", func(l []string) []string {
			return l[1:]
		}, []Finding{{1, FindingGap, "the chain starts at record 2: record 1 removed"}}},
		{"lines swapped", func(l []string) []string {
			l[1], l[2] = l[2], l[1]
			return l
		}, []Finding{{2, FindingGap, "record 2 removed"}, {3, FindingOrder, "seq 2 follows 3"}, {4, FindingGap, "record 3 removed"}}},
		{"line inserted", func(l []string) []string {
			return append(l[:2:2], append([]string{"rm -rf was here\n"}, l[2:]...)...)
		}, []Finding{{3, FindingNotRecord, "not a JSON object"}}},
		{"record without seq inserted", func(l []string) []string {
			return append(l[:2:2], append([]string{`{"event":"start"}` + "\n"}, l[2:]...)...)
		}, []Finding{{3, FindingNotRecord, "a record without seq"}}},
		{"last record edited: not visible to the chain", func(l []string) []string {
			l[4] = strings.Replace(l[4], "uptime", "true", 1)
			return l
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			lines := writeAudit(t, path, 1, 5)
			writeLines(t, path, tt.change(lines))
			rep := verify(t, path)
			if len(rep.Findings) != len(tt.want) {
				t.Fatalf("findings %v, want %v", rep.Findings, tt.want)
			}
			for i, f := range rep.Findings {
				w := tt.want[i]
				if f.Line != w.Line || f.Kind != w.Kind || !strings.HasPrefix(f.Detail, w.Detail) {
					t.Errorf("finding %q, want %q", f, w)
				}
			}
			if tt.want == nil && (rep.Records != 5 || rep.Last != 5) {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// TestAuditChainAcrossReopen: a reopened log continues the chain from
// its last line; a partial last line (a crash during a write) is cut off
// first; and a job that removes its own start record while it runs (the
// last line then) leaves a gap when its end record is written.
func TestAuditChainAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeAudit(t, path, 1, 2)
	writeAudit(t, path, 3, 2)
	if rep := verify(t, path); !rep.OK() || rep.Records != 4 || rep.Last != 4 {
		t.Fatalf("after a reopen: %+v", rep)
	}

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":5,"event":"sta`)
	f.Close()
	if rep := verify(t, path); !rep.OK() || !rep.Torn || rep.Last != 4 {
		t.Fatalf("with a partial last line: %+v", rep)
	}
	lines := writeAudit(t, path, 5, 1)
	if rep := verify(t, path); !rep.OK() || rep.Torn || rep.Records != 5 || len(lines) != 5 {
		t.Fatalf("after reopening a log with a partial last line: %+v, %d lines", rep, len(lines))
	}

	// A job removes its own start record, the last line, while it runs.
	l, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write(Record{Event: "start", Job: "sneaky", Command: "sed -i '$d' audit.jsonl"})
	writeLines(t, path, readLines(t, path)[:5])
	l.Write(Record{Event: "end", Job: "sneaky"})
	rep := verify(t, path)
	if len(rep.Findings) != 1 || rep.Findings[0].Line != 6 || rep.Findings[0].Kind != FindingGap {
		t.Errorf("a removed start record: %v", rep.Findings)
	}
}

// TestAuditChainFromOldLog: records written before records were chained
// are counted apart, and the chain begins after them.
func TestAuditChainFromOldLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeLines(t, path, []string{`{"event":"start","job":"old"}` + "\n", `{"event":"end","job":"old"}` + "\n"})
	writeAudit(t, path, 1, 2)
	rep := verify(t, path)
	if !rep.OK() || rep.Unchained != 2 || rep.Records != 2 || rep.Last != 2 {
		t.Errorf("report %+v", rep)
	}
	lines := readLines(t, path)
	writeLines(t, path, append(lines[:1:1], lines[2:]...)) // the old record the chain starts from
	if rep := verify(t, path); len(rep.Findings) != 1 || rep.Findings[0].Line != 1 || rep.Findings[0].Kind != FindingEdited {
		t.Errorf("the old line before the chain removed: %v", rep.Findings)
	}
}

// TestReadFile reads back what Write wrote, skips a partial last line
// (a crash during a write), and refuses a bad line in the middle.
func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Record{Event: "start", Job: "a", Hosts: 2})
	l.Write(Record{Event: "end", Job: "a", Results: []Host{{Host: "h", Status: batch.StatusExit, ExitCode: 3}}})
	l.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"event":"sta`)
	f.Close()
	recs, err := ReadFile(path)
	if err != nil || len(recs) != 2 || recs[1].Results[0].Status != batch.StatusExit || recs[1].Results[0].ExitCode != 3 {
		t.Fatalf("read %+v, %v", recs, err)
	}
	os.WriteFile(path, []byte("{\"event\":\"start\"}\nnot json\n{}\n"), 0o600)
	if recs, err := ReadFile(path); err == nil {
		t.Errorf("a bad line in the middle read as %+v", recs)
	}
}
