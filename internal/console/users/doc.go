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
// the two, exponentially and within stated limits, in a bucket of its own
// so that every node agrees. It never locks an account for good.
//
// Every user has a [Role]: viewer, operator or admin.
package users
