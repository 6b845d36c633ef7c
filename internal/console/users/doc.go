// Package users keeps the console's local accounts and slows password
// guessing, for team mode.
//
// A [Store] holds the accounts in a key-value bucket of the engine, so that
// every console node sharing the engine sees the same users. Passwords are
// hashed with argon2id ([Hash], RFC 9106) under OWASP's parameters with a
// salt of their own, and stored in the PHC string format with the
// parameters that made them, so that raising the parameters later leaves
// the old hashes usable. [Store.Verify] gives one answer, [ErrBadLogin], for
// an unknown user, a disabled one and a wrong password, and spends the same
// work on each.
//
// A [Backoff] slows failed logins per user, per address and per pair of
// the two, exponentially and within stated limits ([BackoffOptions], the
// --login-backoff-* flags of wsdeck serve), in a bucket of its own so that
// every node agrees. A login asks [Backoff.Check] before verifying, and
// reports [Backoff.Fail] or [Backoff.Succeed] after. It never locks an
// account for good: a counter's delay is capped, and it is forgotten a
// while after its last failure.
//
// Every user has a [Role]: viewer, operator or admin.
package users
