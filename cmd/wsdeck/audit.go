package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wsdeck/wsdeck/internal/console/audit"
	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/engine"
)

var auditCmd = &command{
	name:    "audit",
	args:    "[-f] [--from SEQ] [--console URL | --state-dir DIR | --nats URLS] | verify FILE | print FILE",
	summary: "print or follow the console's audit log (Exec job starts and ends) as JSON lines",
	doc: `Prints the console's audit log, the engine's AUDIT stream, one JSON record a
line (seq is the stream's sequence), and with -f waits for new records.

It reads the stream one of two ways:

  --console URL  through a running console (its /ws/exec), with the login
                 token of --token-file or $WSDECK_TOKEN: the way while a
                 console runs on the embedded engine, whose state directory
                 it holds locked. Any node of the console shows every record.
  (the default)  the engine itself, as wsdeck serve opens it: the embedded one
                 in --state-dir (no console may be running on it), or the
                 NATS deployment of --nats. No console and no token needed:
                 the way to read the log of a console that is down.

The records carry no hash chain in the stream (several nodes append at once;
the stream's sequence numbers them and nothing can be deleted through it).
A node started with --audit-log FILE also copies its records to FILE as
JSON lines chained by SHA-256:

  print FILE   prints that file's records as JSON lines
  verify FILE  checks its chain: each record holds the SHA-256 of the line
               before it and a sequence number. An edited line, removed
               lines (a gap) or lines out of order are reported with their
               line numbers, and the exit status is 1; an intact file prints
               its record count and its head (the last line's hash).

The chain makes edits evident, not impossible: lines cut off the end, an edit
of the last line, or a rewrite of every line after an edit do not show.`,
	example: `wsdeck audit
WSDECK_TOKEN=... wsdeck audit -f --console http://127.0.0.1:8080
wsdeck audit -f --nats nats://10.0.0.5:4222 --nats-creds wsdeck.creds
wsdeck audit verify /var/log/wsdeck/audit.jsonl`,
	run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
		var o auditOptions
		fs.BoolVar(&o.follow, "f", false, "follow: wait for new records after printing the stored ones")
		fs.Uint64Var(&o.from, "from", 0, "start at this sequence (0: the oldest)")
		fs.StringVar(&o.console, "console", "", "read through the console at this `URL` (http://host:port) instead of opening the engine")
		tokenFile := fs.String("token-file", "", "with --console: read the login token from this `file` (default: $WSDECK_TOKEN)")
		engineFlags(fs, &o.engine)
		if err := fs.Parse(args); err != nil {
			return err
		}
		o.token = os.Getenv("WSDECK_TOKEN")
		if *tokenFile != "" {
			tok, err := auth.ReadTokenFile(*tokenFile)
			if err != nil {
				return err
			}
			o.token = tok
		}
		return runAudit(ctx, os.Stdout, fs, fs.Args(), o)
	},
}

type auditOptions struct {
	follow  bool
	from    uint64
	console string // read through this console
	token   string // its login token
	engine  engine.Config
}

// runAudit runs wsdeck audit with its arguments after the flags, writing
// to w.
func runAudit(ctx context.Context, w io.Writer, fs *flag.FlagSet, args []string, o auditOptions) error {
	if len(args) == 0 && o.console != "" {
		return printConsole(ctx, w, o)
	}
	if len(args) == 0 {
		return printStream(ctx, w, o)
	}
	action, args := args[0], args[1:]
	if (action != "verify" && action != "print") || len(args) != 1 {
		fs.Usage()
		return fmt.Errorf("want verify FILE or print FILE, got %q", append([]string{action}, args...))
	}
	if action == "verify" {
		return verifyAudit(w, args[0])
	}
	return printFile(w, args[0])
}

// printConsole prints the records read through a console, and follows
// them with -f.
func printConsole(ctx context.Context, w io.Writer, o auditOptions) error {
	if o.token == "" {
		return errors.New("--console needs the login token: --token-file FILE or $WSDECK_TOKEN")
	}
	enc := json.NewEncoder(w)
	return audit.ReadConsole(ctx, audit.ConsoleOptions{URL: o.console, Token: o.token, From: o.from, Follow: o.follow},
		func(r audit.Record) error { return enc.Encode(r) })
}

// printStream prints the AUDIT stream's records, and follows it with -f.
func printStream(ctx context.Context, w io.Writer, o auditOptions) error {
	e, shutdown, err := openEngine(ctx, o.engine, "read through --console or --nats")
	if err != nil {
		return err
	}
	defer shutdown()
	l, err := audit.Lookup(ctx, e) // a reader leaves the stream's limits alone
	if errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("no audit records: the console has not made its AUDIT stream yet (%w)", err)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	from := o.from
	for {
		recs, err := audit.Read(ctx, l.Stream(), from, 1000)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		if len(recs) < 1000 {
			if len(recs) > 0 {
				from = recs[len(recs)-1].Seq + 1
			}
			break
		}
		from = recs[len(recs)-1].Seq + 1
	}
	if !o.follow {
		return nil
	}
	if from == 0 {
		info, err := l.Stream().Info(ctx)
		if err != nil {
			return err
		}
		from = info.LastSeq + 1
	}
	err = audit.Follow(ctx, l.Stream(), from, func(r audit.Record) error { return enc.Encode(r) })
	if errors.Is(err, context.Canceled) {
		return nil // interrupted: the end of following
	}
	return err
}

func verifyAudit(w io.Writer, path string) error {
	rep, err := audit.VerifyFile(path)
	if err != nil {
		return err
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "%s:%d: %s: %s\n", path, f.Line, f.Kind, f.Detail)
	}
	var notes []string
	if rep.Unchained > 0 {
		notes = append(notes, fmt.Sprintf("%d older records before the chain", rep.Unchained))
	}
	if rep.Torn {
		notes = append(notes, "a partial last line (a crash during a write; cut off when the console next opens the log)")
	}
	note := ""
	if len(notes) > 0 {
		note = "; " + strings.Join(notes, "; ")
	}
	if !rep.OK() {
		signs := "signs"
		if len(rep.Findings) == 1 {
			signs = "sign"
		}
		return fmt.Errorf("audit log %s: %d %s of tampering in %d lines%s", path, len(rep.Findings), signs, rep.Lines, note)
	}
	fmt.Fprintf(w, "%s: OK: %d records, the last seq %d, head %s%s\n", path, rep.Records, rep.Last, rep.Head, note)
	return nil
}

func printFile(w io.Writer, path string) error {
	recs, err := audit.ReadFile(path)
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no audit log at %s (wsdeck serve --audit-log says where a node copies its records)", path)
	}
	return err
}
