package jobs

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
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

	e := enginetest.Embedded(t)
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := audit.OpenFile(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newNode(t, e, Options{AuditOptions: audit.Options{Export: f}})
	for range 2 {
		waitState(t, s, start(t, s, "local", "true", c), StateDone)
	}
	recs := auditRecords(t, e)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, rec := range recs {
		if rec.Seq != uint64(i+1) || rec.Client != c.Name || rec.RemoteAddr != c.RemoteAddr || rec.UserAgent != c.UserAgent {
			t.Errorf("record %d: %+v", i+1, rec)
		}
	}
	rep, err := audit.VerifyFile(export)
	if err != nil || !rep.OK() || rep.Records != 4 {
		t.Errorf("verify the export: %+v, %v", rep, err)
	}
	if b, err := os.ReadFile(export); err != nil || strings.Contains(string(b), "203.0.113.9") {
		t.Errorf("X-Forwarded-For in the audit log")
	}
	if got := s.List(Filter{}); len(got) != 2 || got[0].User != "192.0.2.1" || got[0].RemoteAddr != c.RemoteAddr {
		t.Errorf("job records %+v, want the client's address as its user", got)
	}
}

// TestAuditClientSession: a client logged in with a session is named by
// the session's short key (a prefix of the id's hash, never of the id);
// one with the bearer token has none.
func TestAuditClientSession(t *testing.T) {
	const token = "audit-test-token-0123456789"
	b, err := enginetest.Embedded(t).Bucket(t.Context(), engine.BucketConfig{Name: "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := auth.New(token, auth.Options{Store: auth.NewKVStore(b, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var got Client
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = clientOf(r) }), nil)

	login := httptest.NewRecorder()
	h.ServeHTTP(login, httptest.NewRequest("GET", "/?token="+token, nil))
	cookies := login.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login set %d cookies", len(cookies))
	}
	r := httptest.NewRequest("GET", "/ws/exec", nil)
	r.AddCookie(cookies[0])
	h.ServeHTTP(httptest.NewRecorder(), r)
	if len(got.Session) != 8 || strings.Contains(cookies[0].Value, got.Session) {
		t.Errorf("with a session: %+v (cookie %q)", got, cookies[0].Value)
	}

	got = Client{}
	r = httptest.NewRequest("GET", "/ws/exec", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got.Name == "" || got.Session != "" {
		t.Errorf("with the bearer token: %+v", got)
	}
}
