package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const serveToken = "serve-test-token-0123456789abcdef"

// buildWsdeck builds the command into a temporary directory.
func buildWsdeck(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build wsdeck with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wsdeck")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProc is a running wsdeck serve.
type serveProc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stderr *strings.Builder
	exited chan struct{}
}

// startServe runs wsdeck serve with args and waits for its login URL.
func startServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{stderr: new(strings.Builder), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--token", serveToken, "--print-url", "--exec=false"}, args...)...)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "wsdeck console: open "); ok {
				urls <- u
			}
		}
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case u := <-urls:
		p.base, _, _ = strings.Cut(u, "/?token=")
	case <-p.exited:
		t.Fatalf("wsdeck serve exited: %v\n%s", p.cmd.ProcessState, p.stderr)
	case <-time.After(time.Minute):
		t.Fatalf("wsdeck serve printed no login URL\n%s", p.stderr)
	}
	return p
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func do(t *testing.T, method, url string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if method == "POST" {
		req.Header.Set("Origin", strings.TrimSuffix(url, "/logout"))
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestServeState: the console keeps its sessions in --state-dir, so a
// cookie outlives the console killed with SIGKILL and started again, and
// a logout ends it for good; an engine that cannot be reached at start is
// a clear error, not a hang.
func TestServeState(t *testing.T) {
	bin := buildWsdeck(t)

	t.Run("session survives SIGKILL", func(t *testing.T) {
		t.Parallel()
		state := t.TempDir()
		p := startServe(t, bin, "--addr", "127.0.0.1:0", "--state-dir", state)
		resp := do(t, "GET", p.base+"/?token="+serveToken, nil)
		if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
			t.Fatalf("login: %s, cookies %v", resp.Status, resp.Cookies())
		}
		cookie := resp.Cookies()[0]
		if resp := do(t, "GET", p.base+"/", cookie); resp.StatusCode != http.StatusOK {
			t.Fatalf("with the cookie: %s", resp.Status)
		}
		p.cmd.Process.Kill()
		<-p.exited

		// Same address (the cookie's name holds the port), same state.
		p = startServe(t, bin, "--addr", strings.TrimPrefix(p.base, "http://"), "--state-dir", state)
		if resp := do(t, "GET", p.base+"/", cookie); resp.StatusCode != http.StatusOK {
			t.Fatalf("the cookie after a SIGKILL and a restart: %s, want 200\n%s", resp.Status, p.stderr)
		}
		if resp := do(t, "POST", p.base+"/logout", cookie); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %s", resp.Status)
		}
		if resp := do(t, "GET", p.base+"/", cookie); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("the cookie after logout: %s, want 401", resp.Status)
		}
	})

	t.Run("engine unreachable", func(t *testing.T) {
		t.Parallel()
		const url = "nats://127.0.0.1:1"
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--state-dir", t.TempDir(), "--nats", url)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("wsdeck serve --nats %s still running after 30 s\n%s", url, stderr.String())
		}
		t.Logf("exited in %v: %s", time.Since(start).Round(time.Millisecond), stderr.String())
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if !strings.Contains(stderr.String(), url) {
			t.Errorf("the error does not name %s:\n%s", url, stderr.String())
		}
	})
}
