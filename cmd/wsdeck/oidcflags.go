package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/oidc"
	"github.com/wsdeck/wsdeck/internal/console/server"
)

// oidcFlags registers the flags of single sign-on with OpenID Connect.
// Any of them turns it on (cfg.OIDC is set), and with it team mode; the
// server checks that the issuer and the client id are there. The client
// secret is never logged: prefer --oidc-client-secret-file, which keeps
// it out of ps.
func oidcFlags(fs *flag.FlagSet, cfg *server.Config) {
	on := func() *oidc.Config {
		if cfg.OIDC == nil {
			cfg.OIDC = &oidc.Config{}
		}
		return cfg.OIDC
	}
	secretFrom := ""
	setSecret := func(from, v string) error {
		if secretFrom != "" && secretFrom != from {
			return errors.New("--oidc-client-secret and --oidc-client-secret-file: give one")
		}
		secretFrom = from
		on().ClientSecret = v
		return nil
	}
	str := func(name, usage string, set func(c *oidc.Config, v string)) {
		fs.Func(name, usage, func(v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("empty")
			}
			set(on(), strings.TrimSpace(v))
			return nil
		})
	}
	str("oidc-issuer", "single sign-on: the OpenID Connect provider's issuer `URL` (https://accounts.example.com); turns team mode on",
		func(c *oidc.Config, v string) { c.Issuer = v })
	str("oidc-client-id", "single sign-on: the console's client `id` at the provider",
		func(c *oidc.Config, v string) { c.ClientID = v })
	fs.Func("oidc-client-secret", "single sign-on: the client `secret`; it shows in ps: prefer --oidc-client-secret-file", func(v string) error {
		return setSecret("flag", v)
	})
	fs.Func("oidc-client-secret-file", "single sign-on: read the client secret from this `file` (mode 0600, one line)", func(v string) error {
		s, err := auth.ReadTokenFile(v)
		if err != nil {
			return fmt.Errorf("the client secret: %w", err)
		}
		return setSecret("file", s)
	})
	str("oidc-groups-claim", "single sign-on: the ID token's `claim` that lists the user's groups, which the policy binds to roles (default \""+oidc.DefaultGroupsClaim+"\")",
		func(c *oidc.Config, v string) { c.GroupsClaim = v })
	str("oidc-redirect-url", "single sign-on: the callback `URL` registered at the provider (default: this console's URL with "+oidc.CallbackPath+", e.g. http://127.0.0.1:8080"+oidc.CallbackPath+")",
		func(c *oidc.Config, v string) { c.RedirectURL = v })
	str("oidc-scopes", "single sign-on: the comma-separated `scopes` asked for (default \""+strings.Join(oidc.DefaultScopes, ",")+"\"; openid is always asked)",
		func(c *oidc.Config, v string) {
			c.Scopes = nil
			for s := range strings.SplitSeq(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					c.Scopes = append(c.Scopes, s)
				}
			}
		})
	fs.Func("oidc-max-groups", "single sign-on: refuse an ID token listing more `groups` than this (default "+strconv.Itoa(oidc.DefaultMaxGroups)+")", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("want a positive number")
		}
		on().MaxGroups = n
		return nil
	})
}
