package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/recording"
	"github.com/wsdeck/wsdeck/internal/console/shell/record"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// recordingRun runs wsdeck recording with args on the state directory dir,
// as the command does after parsing.
func recordingRun(ctx context.Context, dir string, args ...string) (string, error) {
	var o recordingOptions
	fs := flag.NewFlagSet("recording", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	pos, err := parseInterleaved(fs, append(args, "--state-dir", dir))
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = runRecording(ctx, &out, fs, pos, o)
	return out.String(), err
}

// TestRecordingExport: a session recorded on a state directory is listed
// by wsdeck recording list (by user and host), and the file wsdeck
// recording export writes is one that asciinema cat prints as the
// session's output.
func TestRecordingExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	start := time.Now().Add(-time.Minute)
	func() { // a console's session, recorded, on the state directory
		e, err := engine.Open(ctx, engine.Config{StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Shutdown(context.WithoutCancel(ctx))
		s, err := recording.Open(ctx, e, recording.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.WithoutCancel(ctx))
		r, err := s.Start(record.SessionMeta{ID: "sess1", User: "alice", Host: "web1", Start: start, Cols: 80, Rows: 24})
		if err != nil {
			t.Fatal(err)
		}
		r.Output(start.Add(time.Second), []byte("$ "))
		r.Output(start.Add(2*time.Second), []byte("echo $((6*7))\r\n42\r\n"))
		r.Resize(start.Add(3*time.Second), 100, 30)
		r.Output(start.Add(4*time.Second), []byte("$ exit\r\n"))
		r.Close(start.Add(5 * time.Second))
		<-r.Done()
	}()

	out, err := recordingRun(ctx, dir, "list", "--user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "sess1 ") ||
		!strings.Contains(lines[1], " web1 ") || !strings.Contains(lines[1], " 5s ") || !strings.HasSuffix(lines[1], "ended") {
		t.Errorf("list --user alice:\n%s", out)
	}
	if out, err := recordingRun(ctx, dir, "list", "--host", "db1"); err != nil || strings.Count(out, "\n") != 1 {
		t.Errorf("list --host db1 (none): %q, %v", out, err)
	}

	path := filepath.Join(t.TempDir(), "s.cast")
	if out, err := recordingRun(ctx, dir, "export", "sess1", "-o", path); err != nil || out != "wrote "+path+"\n" {
		t.Fatalf("export: %q, %v", out, err)
	}
	if _, err := recordingRun(ctx, dir, "export", "nope"); err == nil || !strings.Contains(err.Error(), "no such recording") {
		t.Errorf("export of an unknown id: %v", err)
	}
	if _, err := recordingRun(ctx, dir, "export"); err == nil {
		t.Error("export without an id: no error")
	}

	bin, err := exec.LookPath("asciinema")
	testpeer.Need(t, "asciinema", "apt-get install asciinema", err)
	script, err := exec.LookPath("script")
	testpeer.Need(t, "script (util-linux)", "apt-get install bsdutils", err)
	// asciinema cat opens /dev/tty: it runs under script(1)'s terminal,
	// whose line discipline adds a carriage return to each line end.
	got, err := exec.CommandContext(ctx, script, "-q", "-e", "-c", bin+" cat '"+path+"'", "/dev/null").Output()
	if err != nil {
		t.Fatalf("asciinema cat: %v", err)
	}
	if got, want := strings.ReplaceAll(string(got), "\r", ""), "$ echo $((6*7))\n42\n$ exit\n"; got != want {
		t.Errorf("asciinema cat = %q, want %q", got, want)
	}
	if b, err := os.ReadFile(path); err != nil || !strings.HasPrefix(string(b), `{"version":2,"width":80,"height":24`) {
		t.Errorf("the .cast file: %.80q, %v", b, err)
	}
}
