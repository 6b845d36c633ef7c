package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"wsdeck/internal/console/jobs"
	"wsdeck/internal/fleet/batch"
)

var auditCmd = &command{
	name:    "audit",
	args:    "[print|verify] [FILE]",
	summary: "print the console's Exec audit log, or verify its chain",
	doc: `Reads the audit log the console writes for Exec (--audit-log of wsdeck serve;
FILE defaults to ` + jobs.DefaultAuditLog() + `).

  print (the default)  one line per record: seq, time, event, job, client, command
  verify               checks the chain: each record holds the SHA-256 of the line
                       before it and a sequence number. An edited line, removed
                       lines (a gap) or lines out of order are reported with their
                       line numbers, and the exit status is 1; an intact log prints
                       its record count and its head (the last line's hash).

The chain makes edits evident, not impossible: lines cut off the end, an edit
of the last line, or a rewrite of every line after an edit do not show.
Compare the head with the last "exec: audit record" line of the console's log.`,
	example: `wsdeck audit
wsdeck audit verify ~/.local/state/wsdeck/exec-audit.jsonl`,
	run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
		if err := fs.Parse(args); err != nil {
			return err
		}
		return runAudit(os.Stdout, fs, fs.Args())
	},
}

// runAudit runs wsdeck audit with its arguments after the flags, writing
// to w.
func runAudit(w io.Writer, fs *flag.FlagSet, args []string) error {
	action := "print"
	if len(args) > 0 && (args[0] == "print" || args[0] == "verify") {
		action, args = args[0], args[1:]
	}
	path := jobs.DefaultAuditLog()
	switch len(args) {
	case 0:
	case 1:
		path = args[0]
	default:
		fs.Usage()
		return fmt.Errorf("one audit log expected, got %q", args)
	}
	if action == "verify" {
		return verifyAudit(w, path)
	}
	return printAudit(w, path)
}

func verifyAudit(w io.Writer, path string) error {
	rep, err := batch.VerifyAuditLog(path)
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

func printAudit(w io.Writer, path string) error {
	recs, err := batch.ReadAuditLog(path)
	for _, r := range recs {
		line := fmt.Sprintf("%5d %s %-5s %s %s", r.Seq, r.Time.Format("2006-01-02T15:04:05Z07:00"), r.Event, r.Job, r.Client)
		switch r.Event {
		case "end":
			line += fmt.Sprintf("  ok %d failed %d", r.OK, r.Failed)
			if r.Canceled {
				line += " (canceled)"
			}
		default:
			line += fmt.Sprintf("  %d hosts %q: %q", r.Hosts, r.Expression, r.Command)
		}
		fmt.Fprintln(w, line)
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no audit log at %s (wsdeck serve --audit-log says where the console keeps it)", path)
	}
	return err
}
