package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/server"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
)

// userRun runs wsdeck user with args (the action first) on the state
// directory dir, the password (if any) on stdin with --password-stdin,
// as the command does after parsing.
func userRun(ctx context.Context, dir, stdin string, args ...string) (string, error) {
	var out strings.Builder
	fs, o, pos, err := userParse(stdin, append(args, "--state-dir", dir, "--password-stdin"))
	if err != nil {
		return "", err
	}
	err = runUser(ctx, &out, fs, pos, o)
	return out.String(), err
}

// userParse parses args with wsdeck user's flags, stdin as its standard
// input.
func userParse(stdin string, args []string) (*flag.FlagSet, userOptions, []string, error) {
	o := userOptions{stdin: strings.NewReader(stdin), prompt: io.Discard}
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	pos, err := parseInterleaved(fs, args)
	return fs, o, pos, err
}

// TestUserLifecycle: add, list, passwd, role, disable, rm on a state
// directory, each as a separate run, as an admin would type them; the
// store then verifies the password set.
func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, err := userRun(ctx, dir, stdin, args...)
		if err != nil {
			t.Fatalf("wsdeck user %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	if out := run("correct horse\n", "add", "Alice", "--role", "admin"); out != "added alice, admin\n" {
		t.Errorf("add: %q", out)
	}
	run("battery staple\r\n", "add", "--role=operator", "bob")
	out := run("", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	row := regexp.MustCompile(`^(\S+)\s+(\S+)\s+(yes|no)\s+(yes|no)\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") ||
		row.FindStringSubmatch(lines[1]) == nil || !strings.HasPrefix(lines[1], "alice ") || !strings.Contains(lines[1], " admin ") ||
		row.FindStringSubmatch(lines[2]) == nil || !strings.HasPrefix(lines[2], "bob ") || !strings.Contains(lines[2], " operator ") {
		t.Fatalf("list:\n%s", out)
	}
	if out := run("new password 1\n", "passwd", "alice"); out != "changed the password of alice\n" {
		t.Errorf("passwd: %q", out)
	}
	if out := run("", "role", "bob", "viewer"); out != "bob's role is now viewer\n" {
		t.Errorf("role: %q", out)
	}
	run("", "disable", "bob")
	if out := run("", "list"); !regexp.MustCompile(`(?m)^bob\s+viewer\s+yes\s`).MatchString(out) {
		t.Errorf("list after role and disable:\n%s", out)
	}
	if out := run("", "rm", "bob"); out != "removed bob\n" {
		t.Errorf("rm: %q", out)
	}
	// A second factor: enrolled (the URL printed), taken away, enrolled again.
	if out := run("", "totp", "alice"); !strings.Contains(out, "otpauth://totp/wsdeck:alice?") || !strings.Contains(out, "secret=") {
		t.Errorf("totp: %q", out)
	}
	run("", "totp", "alice", "--off")
	if out := run("", "list"); !regexp.MustCompile(`(?m)^alice\s+admin\s+no\s+no\s`).MatchString(out) {
		t.Errorf("list after totp --off:\n%s", out)
	}
	enrolled := run("", "totp", "alice")
	if out := run("", "list"); !regexp.MustCompile(`(?m)^alice\s+admin\s+no\s+yes\s`).MatchString(out) {
		t.Errorf("list after totp:\n%s", out)
	}

	e, err := engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.WithoutCancel(ctx))
	// The secret is sealed under the key made in the state directory,
	// where serve finds it.
	key, created, err := users.LoadKey(filepath.Join(dir, server.DefaultSecretKeyFile), false)
	if err != nil || created {
		t.Fatalf("the secret key in the state directory: %v", err)
	}
	s, err := users.Open(ctx, e, &users.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.Verify(ctx, "alice", "new password 1"); err != nil || u.Role != users.Admin {
		t.Errorf("Verify(alice, the password set) = %+v, %v", u, err)
	}
	if _, err := s.Verify(ctx, "alice", "correct horse"); !errors.Is(err, users.ErrBadLogin) {
		t.Errorf("Verify(alice, the old password) = %v", err)
	}
	alice, err := s.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	otpURL := regexp.MustCompile(`otpauth://\S+`).FindString(enrolled)
	secret, err := url.Parse(otpURL)
	if err != nil || secret.Query().Get("secret") == "" {
		t.Fatalf("totp printed no otpauth URL: %q", enrolled)
	}
	if strings.Contains(alice.TOTP, secret.Query().Get("secret")) {
		t.Errorf("the secret is stored in clear")
	}
	if code, err := users.TOTPCode(secret.Query().Get("secret"), time.Now()); err != nil {
		t.Error(err)
	} else if ok, err := s.UseTOTP(ctx, alice, code, time.Now()); !ok || err != nil {
		t.Errorf("alice's current TOTP code is not accepted: %v, %v", ok, err)
	}
	if _, err := s.Get(ctx, "bob"); !errors.Is(err, users.ErrNoUser) {
		t.Errorf("bob after rm: %v", err)
	}
	// While this engine holds the state directory, as a console would.
	if _, err := userRun(ctx, dir, "", "list"); err == nil ||
		!strings.Contains(err.Error(), "a console running on this state directory") || !strings.Contains(err.Error(), "--nats") {
		t.Errorf("list with the state directory held: %v", err)
	}
}

// TestUserRefuses: each mistake gets an error that says what is wrong,
// and is a usage error (exit status 2) when the command line is.
func TestUserRefuses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if _, err := userRun(ctx, dir, "a good password\n", "add", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
		usage bool
	}{
		{"no action", "", nil, "an action expected", true},
		{"an unknown action", "", []string{"delete", "alice"}, `unknown action "delete"`, true},
		{"a missing name", "", []string{"add"}, "add takes NAME", true},
		{"an extra argument", "", []string{"list", "x"}, "list takes no arguments", true},
		{"a missing role", "", []string{"role", "alice"}, "role takes NAME ROLE", true},
		{"a bad role", "", []string{"role", "alice", "root"}, `unknown role "root"`, true},
		{"a bad --role", "pw-pw-pw-pw\n", []string{"add", "bob", "--role", "god"}, `--role: unknown role "god"`, true},
		{"a bad name", "pw-pw-pw-pw\n", []string{"add", "b ob"}, `user name "b ob"`, false},
		{"a user that exists", "", []string{"add", "ALICE"}, "user exists: alice", false},
		{"an unknown user's password", "pw-pw-pw-pw\n", []string{"passwd", "carol"}, "no such user: carol", false},
		{"an unknown user's role", "", []string{"role", "carol", "admin"}, "no such user: carol", false},
		{"removing an unknown user", "", []string{"rm", "carol"}, "no such user: carol", false},
		{"an empty password", "\n", []string{"add", "bob"}, "an empty password", false},
		{"no password at all", "", []string{"passwd", "alice"}, "an empty password", false},
		{"a short password", "short\n", []string{"add", "bob"}, "password too short: want at least 8", false},
		{"a password beyond the limit", strings.Repeat("x", users.MaxPassword+10) + "\n", []string{"add", "bob"}, "password too long", false},
		{"a longer minimum", "eight ch\n", []string{"add", "bob", "--min-password", "12"}, "want at least 12", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			fs, o, pos, err := userParse(tc.stdin, append(tc.args, "--state-dir", dir, "--password-stdin"))
			usage := false
			fs.Usage = func() { usage = true }
			if err == nil {
				err = runUser(ctx, &out, fs, pos, o)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || usage != tc.usage {
				t.Fatalf("wsdeck user %q = %v (usage %v); want %q (usage %v)", tc.args, err, usage, tc.want, tc.usage)
			}
		})
	}
	if out, err := userRun(ctx, dir, "", "list"); err != nil || strings.Count(out, "\n") != 2 {
		t.Errorf("after the refusals, list = %v:\n%s", err, out)
	}
}

// TestUserTerminalPassword: without --password-stdin the password is
// read from the terminal twice, prompting on stderr, and must match; with
// no terminal the error says to use --password-stdin.
func TestUserTerminalPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		typed   []string // nil: no terminal
		want    string
		wantErr string
	}{
		{"typed twice", []string{"hunter2hunter2", "hunter2hunter2"}, "hunter2hunter2", ""},
		{"typed differently", []string{"hunter2hunter2", "hunter3hunter3"}, "", "the two passwords differ"},
		{"empty", []string{""}, "", "an empty password"},
		{"no terminal", nil, "", "give --password-stdin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var prompts strings.Builder
			o := userOptions{prompt: &prompts}
			if tc.typed != nil {
				typed := tc.typed
				o.readTerminal = func() (string, error) {
					if len(typed) == 0 {
						return "", io.EOF
					}
					s := typed[0]
					typed = typed[1:]
					return s, nil
				}
			}
			pw, err := o.password("alice")
			if pw != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("password = %q, %v; want %q, %q", pw, err, tc.want, tc.wantErr)
			}
			if tc.typed != nil && !strings.HasPrefix(prompts.String(), "Password for alice: ") {
				t.Fatalf("prompts: %q", prompts.String())
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		pos  string
		role string
	}{
		{[]string{"add", "alice", "--role", "admin"}, "add alice", "admin"},
		{[]string{"--role", "admin", "add", "alice"}, "add alice", "admin"},
		{[]string{"add", "--role=operator", "alice"}, "add alice", "operator"},
		{[]string{"add", "--", "--role"}, "add --role", "viewer"},
		{[]string{"list"}, "list", "viewer"},
	} {
		_, o, pos, err := userParse("", tc.args)
		if err != nil || strings.Join(pos, " ") != tc.pos || o.role != tc.role {
			t.Errorf("parseInterleaved(%q) = %q, %v, role %q; want %q, role %q", tc.args, pos, err, o.role, tc.pos, tc.role)
		}
	}
}
