package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/lockfile"
)

// engineFlags defines on fs the flags of the tools that open the console's
// engine themselves (wsdeck audit, wsdeck user): the embedded engine's
// --state-dir, or a NATS deployment's --nats and its credentials.
func engineFlags(fs *flag.FlagSet, cfg *engine.Config) {
	defaultStateDir, _ := engine.DefaultStateDir() // "" without a home: then --state-dir or --nats is needed
	fs.StringVar(&cfg.StateDir, "state-dir", defaultStateDir, "the console's state `directory` (its embedded engine)")
	fs.Func("nats", "use the NATS deployment at these comma-separated `URLs` instead", func(v string) error {
		for u := range strings.SplitSeq(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.URLs = append(cfg.URLs, u)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.CredsFile, "nats-creds", "", "with --nats: NATS credentials `file`")
	fs.StringVar(&cfg.CAFile, "nats-ca", "", "with --nats: PEM `file` of the CAs that verify the NATS servers")
	fs.StringVar(&cfg.CertFile, "nats-cert", "", "with --nats: PEM client certificate `file`")
	fs.StringVar(&cfg.KeyFile, "nats-key", "", "with --nats: PEM private key `file` of --nats-cert")
	fs.DurationVar(&cfg.ConnectTimeout, "nats-connect-timeout", engine.DefaultConnectTimeout, "with --nats: bound on reaching a NATS server at start")
	fs.DurationVar(&cfg.JetStreamWait, "nats-wait", engine.DefaultJetStreamWait, "with --nats: bound on waiting at start for a reached cluster's JetStream to answer (while it elects its leader)")
}

// openEngine opens the engine cfg names, for a tool, and returns it with
// the function that shuts it down. When a running console holds the
// state directory, the error says so and suggests instead (", or "+instead).
func openEngine(ctx context.Context, cfg engine.Config, instead string) (*engine.Engine, func(), error) {
	if len(cfg.URLs) == 0 && cfg.StateDir == "" {
		return nil, nil, errors.New("no home directory for the state: give --state-dir or --nats")
	}
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		if len(cfg.URLs) == 0 && errors.Is(err, lockfile.ErrLocked) {
			return nil, nil, fmt.Errorf("%w (a console running on this state directory holds it: stop it, or %s)", err, instead)
		}
		return nil, nil, err
	}
	return e, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		e.Shutdown(sctx)
	}, nil
}
