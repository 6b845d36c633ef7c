package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/wsdeck/wsdeck/internal/console/server"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine"
)

var userCmd = &command{
	name:    "user",
	args:    "add NAME [--role ROLE] | passwd NAME | rm NAME | list | role NAME ROLE | disable|enable NAME | totp NAME [--off]",
	summary: "manage the console's local users (team mode): add, passwd, rm, list, role",
	doc: `Manages the console's local accounts, kept in the engine's users bucket, so
that every node sharing the engine knows them. Once any user exists the
console is in team mode: the login token is refused and people log in with
their name and password.

  add NAME      adds a user with --role (viewer, operator or admin)
  passwd NAME   gives a user a new password
  rm NAME       removes a user
  list          prints every user: name, role, disabled, created
  role NAME R   gives a user the role R (viewer, operator or admin)
  disable NAME  stops a user logging in, keeping the account; enable undoes it
  totp NAME     gives a user a second factor (TOTP, RFC 6238) and prints the
                otpauth:// URL to put in their authenticator app (a new one
                replaces the old); with --off, takes it away. The login then
                asks for the app's 6-digit code after the password

A password is read from the terminal without echo, twice; with
--password-stdin, from the first line of the standard input (for scripts).
Only its argon2id hash is stored.

The engine is opened as wsdeck serve opens it: the embedded one in
--state-dir, or the NATS deployment of --nats. A console running on the
embedded engine holds its state directory locked: stop the console first,
or run the console on a NATS deployment and give wsdeck user its --nats.`,
	example: `wsdeck user add alice --role admin
printf '%s\n' "$PASSWORD" | wsdeck user passwd alice --password-stdin
wsdeck user role bob operator
wsdeck user list --nats nats://10.0.0.5:4222 --nats-creds wsdeck.creds`,
	run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
		o := userOptions{stdin: os.Stdin, prompt: os.Stderr}
		o.flags(fs)
		pos, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
			o.readTerminal = func() (string, error) {
				b, err := term.ReadPassword(fd)
				fmt.Fprintln(os.Stderr)
				return string(b), err
			}
		}
		return runUser(ctx, os.Stdout, fs, pos, o)
	},
}

// parseInterleaved parses args with fs, flags before, between and after
// the other arguments (wsdeck user add alice --role admin), and returns
// the others. After --, everything is an argument.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

type userOptions struct {
	engine        engine.Config
	role          string
	passwordStdin bool
	minPassword   int
	totpOff       bool
	secretKeyFile string

	stdin  io.Reader // --password-stdin reads it
	prompt io.Writer // the terminal's prompts go here
	// readTerminal reads a line from the terminal without echo; nil when
	// the standard input is not a terminal.
	readTerminal func() (string, error)
}

// flags defines wsdeck user's flags on fs, into o.
func (o *userOptions) flags(fs *flag.FlagSet) {
	engineFlags(fs, &o.engine)
	fs.StringVar(&o.role, "role", "viewer", "with add: the new user's `role`: viewer, operator or admin")
	fs.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of the standard input instead of the terminal")
	fs.IntVar(&o.minPassword, "min-password", users.DefaultMinPassword, "the shortest password accepted, in `bytes`")
	fs.BoolVar(&o.totpOff, "off", false, "with totp: take the user's second factor away")
	fs.StringVar(&o.secretKeyFile, "secret-key-file", "", "with totp: the console's secret key `file`, which seals the secret (default: secret.key in --state-dir; with --nats, give the nodes' file)")
}

// userActions are wsdeck user's actions and the arguments each takes
// after its name.
var userActions = map[string][]string{
	"add":     {"NAME"},
	"passwd":  {"NAME"},
	"rm":      {"NAME"},
	"list":    nil,
	"role":    {"NAME", "ROLE"},
	"disable": {"NAME"},
	"enable":  {"NAME"},
	"totp":    {"NAME"},
}

// runUser runs wsdeck user with the arguments after the flags (action
// first), writing its output to w.
func runUser(ctx context.Context, w io.Writer, fs *flag.FlagSet, args []string, o userOptions) error {
	if len(args) == 0 {
		fs.Usage()
		return errors.New("an action expected: add, passwd, rm, list, role, disable, enable or totp")
	}
	action, args := args[0], args[1:]
	want, ok := userActions[action]
	if !ok {
		fs.Usage()
		return fmt.Errorf("unknown action %q: want add, passwd, rm, list, role, disable, enable or totp", action)
	}
	if len(args) != len(want) {
		fs.Usage()
		if len(want) == 0 {
			return fmt.Errorf("%s takes no arguments", action)
		}
		return fmt.Errorf("%s takes %s", action, strings.Join(want, " "))
	}
	var role users.Role
	switch action {
	case "add":
		r, err := users.ParseRole(o.role)
		if err != nil {
			fs.Usage()
			return fmt.Errorf("--role: %w", err)
		}
		role = r
	case "role":
		r, err := users.ParseRole(args[1])
		if err != nil {
			fs.Usage()
			return err
		}
		role = r
	}
	var name string
	if len(args) > 0 {
		n, err := users.CheckName(args[0])
		if err != nil {
			return err
		}
		name = n
	}

	e, shutdown, err := openEngine(ctx, o.engine, "give --nats with the console's NATS deployment")
	if err != nil {
		return err
	}
	defer shutdown()
	uopts := &users.Options{MinPassword: o.minPassword}
	if action == "totp" && !o.totpOff {
		if uopts.SecretKey, err = o.secretKey(); err != nil {
			return err
		}
	}
	s, err := users.Open(ctx, e, uopts)
	if err != nil {
		return err
	}

	switch action {
	case "list":
		return listUsers(ctx, w, s)
	case "add":
		// Before asking for a password, so that a typo costs no typing.
		if _, err := s.Get(ctx, name); err == nil {
			return fmt.Errorf("%w: %s", users.ErrExists, name)
		}
		pw, err := o.password(name)
		if err != nil {
			return err
		}
		if _, err := s.Add(ctx, name, role, pw); err != nil {
			return err
		}
		fmt.Fprintf(w, "added %s, %s\n", name, role)
	case "passwd":
		if _, err := s.Get(ctx, name); err != nil {
			return err
		}
		pw, err := o.password(name)
		if err != nil {
			return err
		}
		if err := s.SetPassword(ctx, name, pw); err != nil {
			return err
		}
		fmt.Fprintf(w, "changed the password of %s\n", name)
	case "rm":
		if err := s.Remove(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(w, "removed %s\n", name)
	case "role":
		if err := s.SetRole(ctx, name, role); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s's role is now %s\n", name, role)
	case "disable", "enable":
		if err := s.SetDisabled(ctx, name, action == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(w, "%sd %s\n", action, name)
	case "totp":
		if o.totpOff {
			if err := s.RemoveTOTP(ctx, name); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s has no second factor now\n", name)
			return nil
		}
		url, err := s.EnrolTOTP(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s's second factor: put this in their authenticator app (it holds the secret: keep it private)\n%s\n", name, url)
	}
	return nil
}

func listUsers(ctx context.Context, w io.Writer, s *users.Store) error {
	all, err := s.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tDISABLED\tTOTP\tCREATED")
	yes := map[bool]string{false: "no", true: "yes"}
	for _, u := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, yes[u.Disabled], yes[u.TOTP != ""], u.Created.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// password reads a new password for name: the first line of stdin with
// --password-stdin, else twice from the terminal. The store checks its
// length.
func (o userOptions) password(name string) (string, error) {
	if o.passwordStdin {
		line, err := bufio.NewReader(io.LimitReader(o.stdin, users.MaxPassword+3)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if pw == "" {
			return "", errors.New("an empty password on stdin")
		}
		return pw, nil
	}
	if o.readTerminal == nil {
		return "", errors.New("the standard input is not a terminal: give --password-stdin to read the password from it")
	}
	fmt.Fprintf(o.prompt, "Password for %s: ", name)
	pw, err := o.readTerminal()
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if pw == "" {
		return "", errors.New("an empty password")
	}
	fmt.Fprintf(o.prompt, "Again: ")
	again, err := o.readTerminal()
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if again != pw {
		return "", errors.New("the two passwords differ")
	}
	return pw, nil
}

// secretKey loads the key that seals a second factor: the console's
// file. A missing one is made only for the embedded engine (whose console
// runs on this machine, with the same state directory); with --nats, the
// nodes already have theirs.
func (o userOptions) secretKey() ([]byte, error) {
	if o.secretKeyFile == "" && o.engine.StateDir == "" {
		return nil, errors.New("no state directory for the secret key: give --secret-key-file")
	}
	path := server.SecretKeyPath(o.secretKeyFile, o.engine.StateDir)
	key, _, err := users.LoadKey(path, len(o.engine.URLs) == 0)
	if err != nil && len(o.engine.URLs) > 0 {
		return nil, fmt.Errorf("%w (with --nats, give --secret-key-file: the file the console's nodes use)", err)
	}
	return key, err
}
