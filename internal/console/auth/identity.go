package auth

import (
	"context"

	"github.com/wsdeck/wsdeck/internal/console/users"
)

// Ways a person logs in, as Identity.Method and the audit records name them.
const (
	MethodToken    = "token"    // the console's one token (token mode)
	MethodPassword = "password" // a local user's password
	MethodOIDC     = "oidc"     // single sign-on with OpenID Connect
)

// Identity is who is behind a request: the person a session was started
// for, and how. The server decides what they may do from it (with the
// policy); the page never does.
type Identity struct {
	// User is the account's name: a local user's name, an OIDC
	// subject's preferred name, or TokenUser in token mode.
	User string `json:"user,omitempty"`
	// Role is the role the user had when the session started. A change
	// of role ends the user's sessions, so it does not go stale.
	Role users.Role `json:"role,omitempty"`
	// Method is how the session was started (MethodToken, ...).
	Method string `json:"method,omitempty"`
	// Groups are the OIDC group claims, for the policy's bindings.
	Groups []string `json:"groups,omitempty"`
}

// TokenUser is the name of the one person of token mode.
const TokenUser = "admin"

// tokenIdentity is the identity of a token-mode request: an admin.
var tokenIdentity = Identity{User: TokenUser, Role: users.Admin, Method: MethodToken}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity of a request that Middleware let
// through (by a bearer token or a session cookie).
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
