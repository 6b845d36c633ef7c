// Package execcli is wsdeck exec: it expands a host expression, runs a
// command on every host with package batch, and prints what happens as
// pdsh does ("host: line", live, colored per host on a terminal), folded
// as dshbak -c does (Gather), or as one JSON object per host (JSON), then
// a summary.
package execcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Config configures one wsdeck exec run. Hosts and Command are required.
type Config struct {
	Hosts    string // the host expression
	Exclude  string // hosts to leave out (-x), an expression
	MaxHosts int    // cap on the hosts (0: hostexpr.DefaultMaxHosts)
	Command  string
	Gather   bool   // fold identical outputs into one block per host set
	JSON     bool   // one JSON object per host on stdout
	Color    string // "auto" (a terminal, and NO_COLOR unset), "always" or "never"
	// Job holds the SSH settings; Run fills in its Targets and Command.
	Job batch.Config

	Stdout io.Writer // nil: os.Stdout
	Stderr io.Writer // nil: os.Stderr
}

// ErrFailed is returned when some host did not run the command to a zero
// exit status.
var ErrFailed = errors.New("some hosts failed")

// Run runs the job and prints it. It returns an error wrapping ErrFailed
// if any host failed, and the context's error if ctx ended first.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if strings.TrimSpace(cfg.Command) == "" {
		return errors.New("exec: no command")
	}
	hosts, err := hostexpr.Parse(cfg.Hosts, &hostexpr.Options{MaxHosts: cfg.MaxHosts, Exclude: cfg.Exclude})
	if err != nil {
		var se *hostexpr.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%w\n%s", err, indent(se.Caret(), "  "))
		}
		return err
	}
	job := cfg.Job
	job.Targets, job.Command = hosts, cfg.Command

	p := newPrinter(&cfg, hosts)
	sum, err := batch.Run(ctx, job, p.handle)
	if err != nil {
		return err
	}
	if err := p.err(); err != nil {
		return err
	}
	switch {
	case sum.Canceled:
		return fmt.Errorf("canceled: %w", context.Cause(ctx))
	case sum.Failed > 0:
		return fmt.Errorf("%w: %d of %d", ErrFailed, sum.Failed, sum.Total)
	}
	return nil
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// useColor decides whether to color, from the setting and the output.
func useColor(setting string, w io.Writer) bool {
	switch setting {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
