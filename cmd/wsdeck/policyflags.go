package main

import (
	"errors"
	"flag"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wsdeck/wsdeck/internal/console/server"
)

// policyFlags registers --policy, the roles' policy file of team mode
// (host groups, and bindings of users and OIDC groups to a role and
// groups). With it, SIGHUP makes the console read the file again: a good
// file applies to every socket's next message, a bad one is logged and
// audited and the policy in force is kept. Without it, SIGHUP keeps its
// default (the process ends), as before.
func policyFlags(fs *flag.FlagSet, cfg *server.Config) {
	fs.Func("policy", "team mode's roles and host groups: a YAML `file` of groups (host expressions) and bindings of users and OIDC groups to a role and groups; "+
		"read again on SIGHUP (a bad file keeps the policy in force). Without it, users keep their own roles and operators reach all of --allow-hosts", func(v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("empty")
		}
		if cfg.PolicyReload == nil {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			cfg.PolicyReload = hup
		}
		cfg.PolicyFile = v
		return nil
	})
}
