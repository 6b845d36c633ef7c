// Package oidcop runs a real OpenID Connect provider on loopback for tests:
// the OpenID-certified provider of github.com/zitadel/oidc/v3 (its op
// package: discovery, JWKS, the authorization code flow with PKCE, token
// and userinfo endpoints), on the in-memory storage of that library's
// example server, with the users, groups and clients a test gives, and a
// login page of its own (an HTML form) that a browser fills in.
//
// It lives in the e2e module, not in the product's internal/testkit, so
// that the provider library and what it brings (chi, otel, schema,
// securecookie, x/text...) stay out of the product's go.mod: only tests
// need them. Its tests are also the tests of the console's relying party
// (wsdeck/internal/console/oidc) against a real provider.
//
// A user's groups are the "groups" claim of the ID token and of userinfo
// when the "groups" scope is asked for; the ID token also carries the
// profile and email claims (as Keycloak's and Okta's do), not only
// userinfo. Options.Wrap puts a handler in front of the provider, for
// tests that alter what passes (a nonce, a token).
package oidcop
