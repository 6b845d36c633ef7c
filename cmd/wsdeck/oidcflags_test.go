package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/server"
)

func parseOIDC(t *testing.T, args ...string) (*server.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg server.Config
	oidcFlags(fs, &cfg)
	return &cfg, fs.Parse(args)
}

func TestOIDCFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s3cret\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("s3cret\n"), 0o644)

	cfg, err := parseOIDC(t)
	if err != nil || cfg.OIDC != nil {
		t.Fatalf("no flags: OIDC %+v, %v; want nil (single sign-on off)", cfg.OIDC, err)
	}
	cfg, err = parseOIDC(t, "--oidc-issuer", "https://sso.example.com", "--oidc-client-id", "wsdeck",
		"--oidc-client-secret-file", secret, "--oidc-groups-claim", "roles", "--oidc-scopes", "openid, email",
		"--oidc-redirect-url", "https://deck.example.com/login/oidc/callback", "--oidc-max-groups", "10")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.OIDC
	if o == nil || o.Issuer != "https://sso.example.com" || o.ClientID != "wsdeck" || o.ClientSecret != "s3cret" || o.GroupsClaim != "roles" ||
		!slices.Equal(o.Scopes, []string{"openid", "email"}) || o.RedirectURL != "https://deck.example.com/login/oidc/callback" || o.MaxGroups != 10 {
		t.Fatalf("parsed %+v", o)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"secret twice", []string{"--oidc-client-secret", "a", "--oidc-client-secret-file", secret}, "give one"},
		{"secret file others may read", []string{"--oidc-client-secret-file", open}, "chmod 600"},
		{"empty issuer", []string{"--oidc-issuer", " "}, "empty"},
		{"bad max groups", []string{"--oidc-max-groups", "0"}, "positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseOIDC(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parse = %v; want an error saying %q", err, tc.want)
			}
		})
	}
}
