package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/jobs"
	"github.com/wsdeck/wsdeck/internal/console/recording"
	"github.com/wsdeck/wsdeck/internal/console/shell"
	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/testkit/poll"
	"github.com/wsdeck/wsdeck/websocket"
)

// getAs GETs path as the session of cookie and returns the status and body.
func (ts *testServer) getAs(t *testing.T, path string, cookie *http.Cookie) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", ts.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(cookie)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRecordingsAccess: the recordings API answers by role: a viewer
// nothing (403), an operator their own sessions' recordings only (another's
// is a 404, and a filter by another user lists none), an admin all.
func TestRecordingsAccess(t *testing.T) {
	t.Parallel()
	ts := startTeam(t, Config{})
	addUser(t, ts, "alice", users.Admin, "alice-password")
	addUser(t, ts, "olga", users.Operator, "olga-password")
	addUser(t, ts, "vera", users.Viewer, "vera-password")

	start := time.Now().Add(-time.Hour)
	for _, m := range []record.SessionMeta{
		{ID: "olga1", User: "olga", Host: "web1", Start: start, Cols: 80, Rows: 24},
		{ID: "bob1", User: "bob", Host: "db1", Start: start.Add(time.Minute), Cols: 80, Rows: 24},
	} {
		r, err := ts.Recordings().Start(m)
		if err != nil {
			t.Fatal(err)
		}
		r.Output(m.Start.Add(time.Second), []byte("hello from "+m.ID+"\r\n"))
		r.Close(m.Start.Add(2 * time.Second))
		<-r.Done()
	}
	ids := func(body string) string {
		var list []recording.Info
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("list %q: %v", body, err)
		}
		var out []string
		for _, in := range list {
			out = append(out, in.ID)
		}
		return strings.Join(out, ",")
	}
	alice := ts.passwordLogin(t, "alice", "alice-password")
	olga := ts.passwordLogin(t, "olga", "olga-password")
	vera := ts.passwordLogin(t, "vera", "vera-password")

	for _, tc := range []struct {
		name   string
		cookie *http.Cookie
		path   string
		status int
		check  func(body string) bool
	}{
		{"admin lists all, newest first", alice, "/api/recordings", 200, func(b string) bool { return ids(b) == "bob1,olga1" }},
		{"admin by host", alice, "/api/recordings?host=web1", 200, func(b string) bool { return ids(b) == "olga1" }},
		{"admin by time", alice, "/api/recordings?since=" + start.Add(30*time.Second).UTC().Format(time.RFC3339), 200, func(b string) bool { return ids(b) == "bob1" }},
		{"admin reads another's", alice, "/api/recordings/olga1/cast", 200, func(b string) bool { return strings.Contains(b, "hello from olga1") }},
		{"operator lists own", olga, "/api/recordings", 200, func(b string) bool { return ids(b) == "olga1" }},
		{"operator asking for another's list", olga, "/api/recordings?user=bob", 200, func(b string) bool { return ids(b) == "" }},
		{"operator reads own", olga, "/api/recordings/olga1/cast", 200, func(b string) bool {
			return strings.HasPrefix(b, `{"version":2`) && strings.Contains(b, "hello from olga1")
		}},
		{"operator's entry", olga, "/api/recordings/olga1", 200, func(b string) bool { return strings.Contains(b, `"user":"olga"`) }},
		{"operator refused another's", olga, "/api/recordings/bob1/cast", 404, nil},
		{"operator refused another's entry", olga, "/api/recordings/bob1", 404, nil},
		{"unknown id", alice, "/api/recordings/nope", 404, nil},
		{"bad time", alice, "/api/recordings?since=yesterday", 400, nil},
		{"viewer refused the list", vera, "/api/recordings", 403, nil},
		{"viewer refused a recording", vera, "/api/recordings/olga1/cast", 403, nil},
	} {
		status, body := ts.getAs(t, tc.path, tc.cookie)
		if status != tc.status || (tc.check != nil && !tc.check(body)) {
			t.Errorf("%s: GET %s: %d %q, want %d", tc.name, tc.path, status, body, tc.status)
		}
	}
}

// TestShellSessionRecorded: a terminal opened on /ws/shell (a local shell)
// is recorded: once it exits, its recording is listed (admin, local, ended)
// and holds what the shell printed, and the session's end record in the
// audit stream names the recording.
func TestShellSessionRecorded(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{Exec: &jobs.Options{}, Shell: shell.Options{LocalShell: "/bin/sh"}})
	c := ts.mustDial(t, "/ws/shell")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	open, _ := json.Marshal(map[string]any{"type": "open", "id": "1", "host": "local", "cols": 80, "rows": 24})
	if err := c.Write(ctx, websocket.MessageText, open); err != nil {
		t.Fatal(err)
	}
	var ch byte
	var out strings.Builder
	typed := false
	for !strings.Contains(out.String(), "42") || !typed {
		typ, p, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading the terminal (so far %q): %v", out.String(), err)
		}
		if typ == websocket.MessageBinary {
			if len(p) > 0 && p[0] == ch {
				out.Write(p[1:])
			}
			continue
		}
		var m struct {
			Type, Error string
			Session     struct{ Ch byte }
		}
		json.Unmarshal(p, &m)
		switch m.Type {
		case "attached":
			ch = m.Session.Ch
		case "error":
			t.Fatalf("open: %s", p)
		case "opened":
			if err := c.Write(ctx, websocket.MessageBinary, append([]byte{ch}, "echo $((6*7))\n"...)); err != nil {
				t.Fatal(err)
			}
			typed = true
		}
	}
	if err := c.Write(ctx, websocket.MessageBinary, append([]byte{ch}, "exit\n"...)); err != nil {
		t.Fatal(err)
	}
	var in recording.Info
	poll.Until(t, testTimeout, "the session's recording stored whole", func() bool {
		list := ts.Recordings().List(recording.Filter{Host: "local"})
		if len(list) == 1 && list[0].Done {
			in = list[0]
			return true
		}
		return false
	})
	if in.User != auth.TokenUser || in.Cols != 80 || in.Rows != 24 {
		t.Errorf("index entry = %+v", in)
	}
	rc, _, err := ts.Recordings().Open(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cast, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading recording %+v: %v", in, err)
	}
	var output strings.Builder
	for line := range strings.Lines(string(cast)) {
		var ev []any
		if json.Unmarshal([]byte(line), &ev) == nil && len(ev) == 3 && ev[1] == "o" {
			output.WriteString(ev[2].(string))
		}
	}
	if !strings.Contains(output.String(), "42\r\n") { // the typed line is not 42: $((6*7))
		t.Errorf("the recording %+v holds no output line 42:\n%s", in, cast)
	}
	poll.Until(t, testTimeout, "the shell_end audit record naming the recording", func() bool {
		recs, err := audit.Read(ctx, ts.roles.audit.Stream(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Event == audit.EventShellEnd && r.Recording == in.ID {
				return true
			}
		}
		return false
	})
}

// TestInterruptedSessionAudited: a recording whose node stopped
// heartbeating (a store that never beats stands for the dead node) is
// marked interrupted by this console, which writes the session's end to
// the audit stream, naming the recording.
func TestInterruptedSessionAudited(t *testing.T) {
	t.Parallel()
	ts := start(t, Config{Exec: &jobs.Options{}, Recordings: recording.Options{Heartbeat: 100 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dead, err := recording.Open(ctx, ts.engine, recording.Options{Heartbeat: -1, Flush: 50 * time.Millisecond, PruneEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close(context.WithoutCancel(ctx))
	r, err := dead.Start(record.SessionMeta{ID: "n9.0123456789abcdef", User: "olga", Role: "operator", Host: "web1", Node: "n9", Start: time.Now(), Cols: 80, Rows: 24})
	if err != nil {
		t.Fatal(err)
	}
	r.Output(time.Now(), []byte("hello\r\n"))
	poll.Until(t, testTimeout, "the recording marked interrupted", func() bool {
		in, err := ts.Recordings().Get(ctx, r.RecordingID())
		return err == nil && in.Interrupted
	})
	poll.Until(t, testTimeout, "the shell_end audit record of the interrupted session", func() bool {
		recs, err := audit.Read(ctx, ts.roles.audit.Stream(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Event == audit.EventShellEnd && rec.Recording == r.RecordingID() {
				if rec.State != "interrupted" || rec.User != "olga" || rec.Node != "n9" || rec.Job != "n9.0123456789abcdef" {
					t.Errorf("the audit record: %+v", rec)
				}
				return true
			}
		}
		return false
	})
}
