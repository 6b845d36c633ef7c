package batch

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	// Two logs on one file, as two processes would have: O_APPEND keeps
	// every record whole.
	a, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	start := AuditRecord{Event: "start", Job: "j1", Client: "127.0.0.1:5555", Expression: "127.0.0.1-2", Hosts: 2, Command: "uptime"}
	results := []*Result{
		{Host: "127.0.0.1", Status: StatusOK, ExitCode: 0},
		{Host: "127.0.0.2", Status: StatusExit, ExitCode: 3},
	}
	end := EndRecord(start, results, &Summary{OK: 1, Failed: 1, Elapsed: 1500 * time.Millisecond})
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			rec := end
			rec.Job = fmt.Sprint(i)
			if err := l.Write(rec); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(start); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	b.Close()

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	jobs := map[string]bool{}
	for sc.Scan() {
		var got struct {
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
		if got.Event != "end" || got.Hosts != 2 || got.Command != "uptime" || len(got.Results) != 2 ||
			got.Results[1].Status != "exit" || got.Results[1].ExitCode != 3 || got.Failed != 1 ||
			got.ElapsedMS != 1500 || got.Time.IsZero() {
			t.Errorf("record %s", sc.Text())
		}
	}
	if len(jobs) != n {
		t.Errorf("%d records, want %d", len(jobs), n)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}

// TestReadAuditLog reads back what Write wrote, skips a partial last line
// (a crash during a write), and refuses a bad line in the middle.
func TestReadAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(AuditRecord{Event: "start", Job: "a", Hosts: 2})
	l.Write(AuditRecord{Event: "end", Job: "a", Results: []AuditHost{{Host: "h", Status: StatusExit, ExitCode: 3}}})
	l.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"event":"sta`)
	f.Close()
	recs, err := ReadAuditLog(path)
	if err != nil || len(recs) != 2 || recs[1].Results[0].Status != StatusExit || recs[1].Results[0].ExitCode != 3 {
		t.Fatalf("read %+v, %v", recs, err)
	}
	os.WriteFile(path, []byte("{\"event\":\"start\"}\nnot json\n{}\n"), 0o600)
	if recs, err := ReadAuditLog(path); err == nil {
		t.Errorf("a bad line in the middle read as %+v", recs)
	}
}
