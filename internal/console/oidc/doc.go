// Package oidc logs people in to the console through an OpenID Connect
// provider (single sign-on): it is a relying party of the authorization
// code flow with PKCE (RFC 7636), built on github.com/coreos/go-oidc/v3
// and golang.org/x/oauth2.
//
// Two handlers make the flow. GET /login/oidc (RP.Login) sends the browser
// to the provider with a fresh random state, nonce and PKCE verifier; it
// keeps them in a short-lived cookie sealed with AES-GCM under a server
// key (see Config.Key), so that any node of a cluster can finish the flow
// and nothing is kept for a flow that is never finished. GET
// /login/oidc/callback (RP.Callback) takes the provider's answer: the
// state must match the cookie's, the code is exchanged with the verifier,
// the ID token's signature (the provider's published keys), issuer,
// audience (and authorized party), expiry and nonce are checked, and the
// user's name (preferred_username, else a verified email, else sub) and
// groups (Config.GroupsClaim)
// are read from it. Config.Role then gives the user's role from those
// groups (the policy's bindings); a user with none is refused with a page
// that says so. Otherwise Config.StartSession logs the browser in as
// auth.Identity{User, Role, Method: auth.MethodOIDC, Groups}.
//
// The flow cookie is SameSite=Lax, not Strict like the session's: the
// provider's redirect back to the callback is a cross-site top-level GET,
// on which a browser sends Lax cookies and withholds Strict ones. It is
// HttpOnly, scoped to the callback's path, lives Config.FlowTimeout, and
// is cleared by the callback whatever the outcome, so a code cannot be
// replayed through it (the provider also refuses a code used twice). For
// the same reason the callback does not answer with a redirect to the
// console: the session cookie it sets is Strict, and a browser withholds
// it along a redirect chain that began on another site. It answers with a
// small page that moves to the console by itself (a same-site navigation).
//
// The provider's discovery document is fetched by Discover, which the
// server calls at start; if the provider cannot be reached then, Login
// tries again (at most once per Config.RetryInterval, each try bounded by
// Config.DiscoveryTimeout) and shows a page naming the issuer meanwhile.
//
// Every login and every refused callback goes to Config.Audit, when set,
// as audit.EventLogin or audit.EventLoginFailed with Method "oidc". The
// client secret, codes and tokens are never logged.
package oidc
