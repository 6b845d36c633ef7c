package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"
)

// Defaults for Options.
const (
	// DefaultIdle ends a session that has not been used for half a day:
	// a console left overnight asks for the token again.
	DefaultIdle = 12 * time.Hour
	// DefaultMax ends every session a week after its login, however much
	// it is used.
	DefaultMax = 7 * 24 * time.Hour
	// DefaultMaxSessions is how many sessions a KVStore keeps.
	DefaultMaxSessions = 1000
)

// ErrNoSession is the error of a Store that has no session by that key.
var ErrNoSession = errors.New("auth: no such session")

// idBytes is the size of a session id: 256 random bits.
const idBytes = 32

// idLen is the length of a session id as it is in the cookie.
var idLen = base64.RawURLEncoding.EncodedLen(idBytes)

// Session is a browser's login. Its id, the cookie's value, is kept
// nowhere on the server: a Session holds the id's hash, Key.
type Session struct {
	// Key is the SHA-256 of the id, in base64url: what a Store indexes
	// the session by. It is not a secret (it opens nothing), but it is
	// not logged whole either; ShortKey names a session in logs.
	Key     string
	Created time.Time // the login
	Seen    time.Time // the last use
	// Expires is when the session ends unless used again: the earlier
	// of Seen+Idle and Created+Max. A Store may drop it from then on.
	Expires time.Time
	// Identity is who logged in, and how.
	Identity Identity
	// Remote is the address the login came from, for an admin's list.
	Remote string
}

// ShortKey returns the first characters of Key, enough to tell a few
// sessions apart in a log.
func (s Session) ShortKey() string { return s.Key[:min(len(s.Key), 8)] }

// A Store keeps the live sessions. The Guard decides when a session
// expires (Session.Expires) and when it ends; the store keeps sessions,
// bounds how many it holds, and may drop one whose Expires has passed.
// KVStore keeps them in a key-value bucket that every console node
// shares.
//
// Implementations are safe for concurrent use. Every method returns once
// its work is done or ctx is done, whichever is first.
type Store interface {
	// Add stores a new session. A full store makes room (by dropping
	// expired sessions, then the least recently used) or fails.
	Add(ctx context.Context, s Session) error
	// Get returns the session with key, or ErrNoSession.
	Get(ctx context.Context, key string) (Session, error)
	// Update replaces the session with s.Key, or returns ErrNoSession if
	// there is none: it never brings back a session that was deleted.
	Update(ctx context.Context, s Session) error
	// Delete removes the session with key, if there is one.
	Delete(ctx context.Context, key string) error
	// Sweep removes the sessions whose Expires is not after now.
	Sweep(ctx context.Context, now time.Time) error
}

// newID returns a new session id: 256 bits from crypto/rand, base64url.
func newID() string {
	b := make([]byte, idBytes)
	rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// keyOf returns the Store key of a session id.
func keyOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
