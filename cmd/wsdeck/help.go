package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// A command is a wsdeck subcommand. Its help (wsdeck help NAME, or wsdeck
// NAME -h) is generated: the usage line, doc, the flags run defines, and the
// example.
type command struct {
	name    string
	args    string // what follows "wsdeck NAME" in the usage line
	summary string // one line for the overview
	doc     string // what it does, in a few lines
	example string // one or more command lines

	// run defines the command's flags on fs, parses args with fs.Parse,
	// returning its error as it is, and then does the work. It must do
	// nothing before fs.Parse returns: help runs it with -h to learn the
	// flags. A usage error found after parsing (a missing argument, say)
	// calls fs.Usage before returning the error, so that it exits 2.
	run func(ctx context.Context, fs *flag.FlagSet, args []string) error
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

// dispatch runs the command that args name and returns the exit status.
// With no command, or flags first, it runs serve: wsdeck --addr X is
// wsdeck serve --addr X.
func dispatch(ctx context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			return help(ctx, args[1:])
		case "-version", "--version":
			args = append([]string{"version"}, args[1:]...)
		}
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		args = append([]string{"serve"}, args...)
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(os.Stderr, "wsdeck: unknown command %q\n\n", args[0])
		overview(os.Stderr)
		return exitUsage
	}
	return c.main(ctx, args[1:])
}

// help prints the overview, or the help of the command args names.
func help(ctx context.Context, args []string) int {
	switch {
	case len(args) == 0 || len(args) == 1 && args[0] == "help":
		overview(os.Stdout)
		return exitOK
	case len(args) > 1:
		fmt.Fprintln(os.Stderr, "wsdeck help: one command expected")
	case lookup(args[0]) == nil:
		fmt.Fprintf(os.Stderr, "wsdeck help: unknown command %q\n", args[0])
	default:
		return lookup(args[0]).main(ctx, []string{"-h"})
	}
	fmt.Fprintln(os.Stderr)
	overview(os.Stderr)
	return exitUsage
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// main runs c with args and returns the exit status. It prints c's help to
// stdout for -h or --help; a usage error goes to stderr, with a pointer to
// that help.
func (c *command) main(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported below, in one place
	usage := false
	fs.Usage = func() { usage = true }
	err := c.run(ctx, fs, args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		c.help(os.Stdout, fs)
		return exitOK
	case usage:
		fmt.Fprintf(os.Stderr, "wsdeck %s: %v\nRun 'wsdeck help %s' for its flags and an example.\n", c.name, err, c.name)
		return exitUsage
	default:
		fmt.Fprintln(os.Stderr, "wsdeck:", err)
		return exitError
	}
}

// help writes c's help to w, with the flags defined on fs.
func (c *command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.TrimSpace("wsdeck "+c.name+" "+c.args), strings.TrimSpace(c.doc))
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprintf(w, "\nExample:\n")
	for line := range strings.Lines(strings.TrimSpace(c.example)) {
		fmt.Fprintf(w, "  %s", line)
	}
	fmt.Fprintln(w)
}

// overview writes what wsdeck is and a line per command to w.
func overview(w io.Writer) {
	fmt.Fprint(w, `wsdeck serves a web operations console (Chat, Monitor, Exec) and runs
WebSocket and SSH tools from the command line.

usage: wsdeck COMMAND [flags] [arguments]
       wsdeck [flags]          the console: wsdeck serve [flags]

Commands:
`)
	width := len("help")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help", "this text, or a command's: wsdeck help COMMAND")
	fmt.Fprint(w, `
Run 'wsdeck help COMMAND' (or wsdeck COMMAND --help) for what a command
does, its flags with their defaults, and an example.
`)
}
