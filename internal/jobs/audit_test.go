package jobs

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"wsdeck/internal/batch"
)

// TestAuditClient: the audit records of a job name the client as well as
// a request can: its address and User-Agent, never X-Forwarded-For; and
// the records chain, so that wsdeck audit verify finds the log intact.
func TestAuditClient(t *testing.T) {
	r := httptest.NewRequest("GET", "/ws/exec", nil)
	r.RemoteAddr = "192.0.2.1:50312"
	r.Header.Set("User-Agent", "Mozilla/5.0 (test)"+strings.Repeat("x", 500))
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	c := clientOf(r)
	if c.Name != "web 192.0.2.1:50312" || c.RemoteAddr != "192.0.2.1:50312" || len(c.UserAgent) != maxUserAgent ||
		!strings.HasPrefix(c.UserAgent, "Mozilla/5.0 (test)") {
		t.Errorf("clientOf = %+v", c)
	}

	s, path := newService(t, Options{})
	for range 2 {
		if _, err := s.StartFor("local", "true", c); err != nil {
			t.Fatal(err)
		}
		waitEnded(t, s)
	}
	recs := readAudit(t, path)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, rec := range recs {
		if rec.Seq != uint64(i+1) || rec.Client != c.Name || rec.RemoteAddr != c.RemoteAddr || rec.UserAgent != c.UserAgent {
			t.Errorf("record %d: %+v", i+1, rec)
		}
	}
	rep, err := batch.VerifyAuditLog(path)
	if err != nil || !rep.OK() || rep.Records != 4 {
		t.Errorf("verify: %+v, %v", rep, err)
	}
	if b, err := os.ReadFile(path); err != nil || strings.Contains(string(b), "203.0.113.9") {
		t.Errorf("X-Forwarded-For in the audit log")
	}
}
