package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCLI builds wsdeck and runs it as a user would: help, usage errors and
// the version, checking exit statuses and which stream each text goes to.
func TestCLI(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build wsdeck with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wsdeck")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	goVersion, err := exec.Command(goTool, "env", "GOVERSION").Output()
	if err != nil {
		t.Fatalf("go env GOVERSION: %v", err)
	}
	// wsdeckEnv runs wsdeck with args, and env added to the environment.
	wsdeckEnv := func(t *testing.T, env []string, args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := result{stdout: stdout.String(), stderr: stderr.String()}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			r.code = exit.ExitCode()
		case err != nil:
			t.Fatalf("wsdeck %s: %v", strings.Join(args, " "), err)
		}
		t.Logf("wsdeck %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		return r
	}
	wsdeck := func(t *testing.T, args ...string) result {
		t.Helper()
		return wsdeckEnv(t, nil, args...)
	}

	// The overview, and the command names it lists: every one must have
	// real help, including commands added later.
	overview := wsdeck(t, "help")
	overview.want(t, 0, "stdout")
	names := overviewCommands(overview.stdout)
	for _, name := range []string{"serve", "exec", "client", "echo", "version", "help"} {
		if !names[name] {
			t.Errorf("wsdeck help does not list %s:\n%s", name, overview.stdout)
		}
	}
	if !strings.Contains(overview.stdout, "wsdeck help COMMAND") {
		t.Errorf("wsdeck help does not say how to get a command's help:\n%s", overview.stdout)
	}

	t.Run("overview", func(t *testing.T) {
		for _, arg := range []string{"-h", "--help", "-help"} {
			r := wsdeck(t, arg)
			r.want(t, 0, "stdout")
			if r.stdout != overview.stdout {
				t.Errorf("wsdeck %s printed\n%s\nwant what wsdeck help prints:\n%s", arg, r.stdout, overview.stdout)
			}
		}
	})

	t.Run("every command", func(t *testing.T) {
		for name := range names {
			if name == "help" {
				continue
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := wsdeck(t, "help", name)
				r.want(t, 0, "stdout")
				if !strings.HasPrefix(r.stdout, "usage: wsdeck "+name) {
					t.Errorf("wsdeck help %s does not begin with its usage line", name)
				}
				if _, example, ok := strings.Cut(r.stdout, "\nExample:\n"); !ok || !strings.Contains(example, "wsdeck "+name) {
					t.Errorf("wsdeck help %s has no example", name)
				}
				if len(strings.Split(strings.TrimSpace(r.stdout), "\n")) < 5 {
					t.Errorf("wsdeck help %s says too little to be help", name)
				}
				for _, flag := range []string{"-h", "--help"} {
					f := wsdeck(t, name, flag)
					f.want(t, 0, "stdout")
					if f.stdout != r.stdout {
						t.Errorf("wsdeck %s %s differs from wsdeck help %s", name, flag, name)
					}
				}
			})
		}
	})

	t.Run("help exec", func(t *testing.T) {
		t.Parallel()
		r := wsdeck(t, "help", "exec")
		for _, want := range []string{
			"-fanout int\n", "(default 64)", // a flag with its default
			"-accept-new\n", "-known-hosts file\n", "-timeout duration\n",
			"Example:\n  wsdeck exec local -- ",
			"commas or white space",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("wsdeck help exec lacks %q", want)
			}
		}
	})

	for _, tt := range []struct {
		name string
		args []string
		want []string // in stderr
		help string   // the command whose help stderr points to, if any
	}{
		{"unknown command", []string{"nosuch"}, []string{`unknown command "nosuch"`, "Commands:"}, ""},
		{"help for an unknown command", []string{"help", "nosuch"}, []string{`unknown command "nosuch"`, "Commands:"}, ""},
		{"undefined flag", []string{"exec", "--bogus", "local", "--", "true"}, []string{"flag provided but not defined: -bogus"}, "exec"},
		{"undefined flag after the hosts", []string{"exec", "local", "--bogus", "--", "true"}, []string{"flag provided but not defined: -bogus"}, "exec"},
		{"bad flag value", []string{"exec", "--fanout", "many", "local", "--", "true"}, []string{`invalid value "many" for flag -fanout`}, "exec"},
		{"flags without a command are serve's", []string{"--bogus"}, []string{"flag provided but not defined: -bogus"}, "serve"},
		{"missing argument", []string{"client"}, []string{"one URL expected"}, "client"},
		{"unexpected argument", []string{"version", "extra"}, []string{"no arguments expected"}, "version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := wsdeck(t, tt.args...)
			r.want(t, 2, "stderr")
			for _, want := range tt.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q", want)
				}
			}
			if tt.help != "" {
				if want := "Run 'wsdeck help " + tt.help + "'"; !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks the pointer %q", want)
				}
				if n := strings.Count(r.stderr, "\n"); n > 3 {
					t.Errorf("stderr has %d lines: want the error and a pointer to help, not the help", n)
				}
			}
		})
	}

	// The README's first Exec example is the one a newcomer runs first: it
	// must work here, with no sshd and no key (HOME is empty).
	t.Run("README's first exec example", func(t *testing.T) {
		t.Parallel()
		line := firstLine(t, readme(t), "go run ./cmd/wsdeck exec ")
		args := shellWords(t, strings.TrimPrefix(line, "go run ./cmd/wsdeck "))
		r := wsdeckEnv(t, []string{"HOME=" + t.TempDir()}, args...)
		if r.code != 0 {
			t.Errorf("%q exited %d: it needs more than this machine", line, r.code)
		}
	})

	// The version: one line from the build information, ending with the Go
	// version that built it; not serve's flags.
	versionLine := regexp.MustCompile(`^wsdeck \S[^\n]*, ` + regexp.QuoteMeta(strings.TrimSpace(string(goVersion))) + "\n$")
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			r := wsdeck(t, args...)
			r.want(t, 0, "stdout")
			if !versionLine.MatchString(r.stdout) {
				t.Errorf("wsdeck %s printed %q, want one line matching %s", args[0], r.stdout, versionLine)
			}
		})
	}
}

// TestREADMEGoVersion checks that the README names the Go release go.mod
// requires.
func TestREADMEGoVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "Go " + string(m[1]); !strings.Contains(readme(t), want) {
		t.Errorf("README.md does not say %q, the Go that go.mod requires", want)
	}
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstLine returns the first line of text that begins with prefix.
func firstLine(t *testing.T, text, prefix string) string {
	t.Helper()
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("no line begins with %q", prefix)
	return ""
}

// shellWords splits a command line as sh does for words and single quotes,
// which is all the README's examples use.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, c := range line {
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			word.WriteRune(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune(`"\$*?;&|<>()`+"`", c):
			t.Fatalf("%q: only words and single quotes are understood here", line)
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("%q: unterminated quote", line)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// result is how a run of wsdeck ended.
type result struct {
	code           int
	stdout, stderr string
}

// want checks the exit status, and that only the named stream has text.
func (r result) want(t *testing.T, code int, stream string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d", r.code, code)
	}
	out, quiet, quietName := r.stdout, r.stderr, "stderr"
	if stream == "stderr" {
		out, quiet, quietName = r.stderr, r.stdout, "stdout"
	}
	if out == "" {
		t.Errorf("nothing on %s", stream)
	}
	if quiet != "" {
		t.Errorf("%s should be empty, has %q", quietName, quiet)
	}
}

// overviewCommands returns the command names listed under "Commands:" in
// wsdeck help's output.
func overviewCommands(overview string) map[string]bool {
	names := map[string]bool{}
	in := false
	for sc := bufio.NewScanner(strings.NewReader(overview)); sc.Scan(); {
		line := sc.Text()
		switch {
		case line == "Commands:":
			in = true
		case in && strings.TrimSpace(line) == "":
			return names
		case in:
			names[strings.Fields(line)[0]] = true
		}
	}
	return names
}
