package main

import (
	"flag"
	"fmt"

	"github.com/wsdeck/wsdeck/internal/console/server"
	"github.com/wsdeck/wsdeck/internal/console/users"
)

// loginFlags registers the flags of password login (team mode): the
// backoff that slows failed logins per user, per address and per pair
// (users.Backoff), and who must have a second factor. A free count of -1
// means none free.
func loginFlags(fs *flag.FlagSet, cfg *server.Config) {
	b := &cfg.LoginBackoff
	fs.DurationVar(&b.Base, "login-backoff-base", users.DefaultBackoffBase, "team mode: the first wait after a login's free failures; it doubles with each failure")
	fs.DurationVar(&b.Max, "login-backoff-max", users.DefaultBackoffMax, "team mode: the longest wait after failed logins")
	fs.DurationVar(&b.Forget, "login-backoff-forget", users.DefaultBackoffForget, "team mode: forget a counter of failed logins this long after its last failure")
	fs.IntVar(&b.FreePair, "login-backoff-free-pair", users.DefaultBackoffFreePair, "team mode: failed logins of one user from one address before any wait (-1: none)")
	fs.IntVar(&b.FreeUser, "login-backoff-free-user", users.DefaultBackoffFreeUser, "team mode: failed logins of one user from all addresses before every address waits (-1: none)")
	fs.Func("require-2fa", "team mode: who must have a second factor (wsdeck user totp) to log in with a password: `none`, admins or all", func(v string) error {
		switch v {
		case "none", "":
			cfg.Require2FA = server.Require2FANone
		case server.Require2FAAdmins, server.Require2FAAll:
			cfg.Require2FA = v
		default:
			return fmt.Errorf("want none, admins or all")
		}
		return nil
	})
	fs.StringVar(&cfg.SecretKeyFile, "secret-key-file", "", "team mode: `file` of the key that seals second-factor secrets in the engine, 64 hex digits; every node of a console needs the same one (default: secret.key in --state-dir, made if missing)")
	fs.IntVar(&b.FreeAddr, "login-backoff-free-addr", users.DefaultBackoffFreeAddr, "team mode: failed logins from one address, all users together, before it waits (-1: none)")
}
