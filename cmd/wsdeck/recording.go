package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/recording"
	"github.com/wsdeck/wsdeck/internal/engine"
)

var recordingCmd = &command{
	name:    "recording",
	args:    "list [--user NAME] [--host HOST] [--since TIME] | export ID [-o FILE]",
	summary: "list the recorded terminal sessions, or write one as an asciicast .cast file",
	doc: `Reads the recordings of the console's terminal sessions (the Shell tab),
kept in the engine's recordings object store and index.

  list        prints the recordings, newest first: id, user, host, start,
              duration, size; --user, --host and --since select some
  export ID   writes recording ID as an asciicast v2 file (what asciinema
              play and asciinema cat read) to -o FILE, by default ID.cast;
              -o - writes it to the standard output

The engine is opened as wsdeck serve opens it: the embedded one in
--state-dir, or the NATS deployment of --nats. A console running on the
embedded engine holds its state directory locked: then fetch a recording
through the console (GET /api/recordings/ID/cast) instead.`,
	example: `wsdeck recording list --user alice
wsdeck recording export 3f2a9c -o session.cast && asciinema play session.cast`,
	run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
		var o recordingOptions
		o.flags(fs)
		pos, err := parseInterleaved(fs, args)
		if err != nil {
			return err
		}
		return runRecording(ctx, os.Stdout, fs, pos, o)
	},
}

type recordingOptions struct {
	engine engine.Config
	filter recording.Filter
	out    string
}

func (o *recordingOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.filter.User, "user", "", "list: only this user's recordings")
	fs.StringVar(&o.filter.Host, "host", "", "list: only recordings of this host")
	fs.Func("since", "list: only recordings started at or after this `time` (RFC 3339, or a duration ago such as 24h)", func(v string) error {
		if d, err := time.ParseDuration(v); err == nil {
			o.filter.Since = time.Now().Add(-d)
			return nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errors.New("want an RFC 3339 time or a duration")
		}
		o.filter.Since = t
		return nil
	})
	fs.StringVar(&o.out, "o", "", "export: write to this `file` (default ID.cast; - for the standard output)")
	engineFlags(fs, &o.engine)
}

func runRecording(ctx context.Context, stdout io.Writer, fs *flag.FlagSet, pos []string, o recordingOptions) error {
	if len(pos) == 0 || (pos[0] == "list" && len(pos) != 1) || (pos[0] == "export" && len(pos) != 2) ||
		(pos[0] != "list" && pos[0] != "export") {
		fs.Usage()
		return errors.New("want list, or export ID")
	}
	e, shutdown, err := openEngine(ctx, o.engine, "use --nats, or GET /api/recordings on the console")
	if err != nil {
		return err
	}
	defer shutdown()
	s, err := recording.Open(ctx, e, recording.Options{PruneEvery: -1, Heartbeat: -1})
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	if pos[0] == "list" {
		return listRecordings(stdout, s.List(o.filter))
	}
	return exportRecording(ctx, stdout, s, pos[1], o.out)
}

func listRecordings(w io.Writer, list []recording.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tHOST\tSTART\tDURATION\tSIZE\tSTATE")
	for _, in := range list {
		state := "ended"
		switch {
		case !in.Done:
			state = "recording"
		case in.Interrupted:
			state = "interrupted"
		case in.Truncated:
			state = "truncated"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", in.ID, in.User, in.Host, in.Start.UTC().Format(time.RFC3339),
			(time.Duration(in.Duration * float64(time.Second))).Round(time.Second), in.Size, state)
	}
	return tw.Flush()
}

func exportRecording(ctx context.Context, stdout io.Writer, s *recording.Store, id, out string) (err error) {
	rc, _, err := s.Open(ctx, id)
	if err != nil {
		return err
	}
	defer rc.Close()
	if out == "-" {
		_, err = io.Copy(stdout, rc)
		return err
	}
	if out == "" {
		out = id + ".cast"
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(f, rc); err != nil {
		return fmt.Errorf("export %s to %s: %w", id, out, err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", out)
	return nil
}
