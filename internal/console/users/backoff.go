package users

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// BackoffBucketName is the engine bucket that holds the failure counters.
const BackoffBucketName = "login_backoff"

// Defaults of BackoffOptions, and the serve flags that will set them.
const (
	// DefaultBackoffBase is the first delay after the free failures
	// (--login-backoff-base).
	DefaultBackoffBase = time.Second
	// DefaultBackoffMax caps every delay (--login-backoff-max): a scope
	// never waits longer than this after its last failure, however many
	// failures it has.
	DefaultBackoffMax = 15 * time.Minute
	// DefaultBackoffForget is how long after its last failure a counter is
	// forgotten (--login-backoff-forget), and the bucket's TTL.
	DefaultBackoffForget = 24 * time.Hour
	// DefaultBackoffFreePair is how many failures a user name may have from
	// one address before any delay (--login-backoff-free-pair): a typo or
	// two from its owner cost nothing.
	DefaultBackoffFreePair = 3
	// DefaultBackoffFreeUser is how many failures a user name may have
	// from all addresses together before every address waits
	// (--login-backoff-free-user): guessing spread over many addresses.
	DefaultBackoffFreeUser = 10
	// DefaultBackoffFreeAddr is how many failures an address may have over
	// all user names before it waits (--login-backoff-free-addr): more
	// than a pair's, since many people may share an address behind NAT.
	DefaultBackoffFreeAddr = 20
)

// maxCASTries bounds the compare-and-set retries of one counter update: a
// counter updated this many times by others during one Fail is contended
// beyond anything a login form produces.
const maxCASTries = 64

// BackoffOptions adjusts a Backoff. The zero value means the defaults;
// a negative free count means none free.
type BackoffOptions struct {
	Base   time.Duration // 0: DefaultBackoffBase
	Max    time.Duration // 0: DefaultBackoffMax
	Forget time.Duration // 0: DefaultBackoffForget

	FreePair int // 0: DefaultBackoffFreePair
	FreeUser int // 0: DefaultBackoffFreeUser
	FreeAddr int // 0: DefaultBackoffFreeAddr

	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

func (o *BackoffOptions) defaults() {
	if o.Base <= 0 {
		o.Base = DefaultBackoffBase
	}
	if o.Max <= 0 {
		o.Max = DefaultBackoffMax
	}
	o.Max = max(o.Max, o.Base)
	if o.Forget <= 0 {
		o.Forget = DefaultBackoffForget
	}
	o.Forget = max(o.Forget, o.Max)
	free := func(n *int, def int) {
		switch {
		case *n == 0:
			*n = def
		case *n < 0:
			*n = 0
		}
	}
	free(&o.FreePair, DefaultBackoffFreePair)
	free(&o.FreeUser, DefaultBackoffFreeUser)
	free(&o.FreeAddr, DefaultBackoffFreeAddr)
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Backoff slows failed logins. It counts failures in three scopes: a user
// name, an address, and the pair of the two. A scope with n failures
// beyond its free ones waits Base·2^(n-1), at most Max, after its last
// failure; a login waits for the longest of its three scopes. A counter is
// forgotten Forget after its last failure, so no account is ever locked
// for good: at worst its owner waits Max after the last guess.
//
// The counters live in a bucket of the engine, updated by compare and
// set, so every node sharing the engine counts the same failures. A
// Backoff is safe for concurrent use.
//
// The caller calls Check before verifying a password and refuses the
// attempt (without verifying, and without calling Fail) while it returns
// a wait; then Fail after a wrong password, or Succeed after a right one.
type Backoff struct {
	b    Bucket
	opts BackoffOptions
}

// OpenBackoff returns a Backoff in the engine's login_backoff bucket,
// creating it if needed, with a TTL of opts.Forget.
func OpenBackoff(ctx context.Context, e *engine.Engine, opts *BackoffOptions) (*Backoff, error) {
	bo := NewBackoff(nil, opts)
	b, err := e.Bucket(ctx, engine.BucketConfig{Name: BackoffBucketName, TTL: bo.opts.Forget, MaxValueSize: 256})
	if err != nil {
		return nil, fmt.Errorf("login backoff: %w", err)
	}
	bo.b = b
	return bo, nil
}

// NewBackoff returns a Backoff keeping its counters in b. Entries older
// than opts.Forget are ignored whether or not b expires them.
func NewBackoff(b Bucket, opts *BackoffOptions) *Backoff {
	var o BackoffOptions
	if opts != nil {
		o = *opts
	}
	o.defaults()
	return &Backoff{b: b, opts: o}
}

// counter is a scope's record in the bucket.
type counter struct {
	Failures int   `json:"n"`
	Last     int64 `json:"last"` // unix nanoseconds of the last failure
}

// scope is one of the three counters a login touches.
type scope struct {
	key  string
	free int
}

// scopes returns the counters of user and addr: the pair's, the user's
// and the address's, in that order. Keys are hashes, so that any name or
// address is a valid key and the bucket holds neither in clear.
func (bo *Backoff) scopes(user, addr string) [3]scope {
	user = strings.ToLower(user)
	addr = canonAddr(addr)
	h := func(kind, s string) string {
		sum := sha256.Sum256([]byte(kind + "\x00" + s))
		return kind + "." + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return [3]scope{
		{h("p", user+"\x00"+addr), bo.opts.FreePair},
		{h("u", user), bo.opts.FreeUser},
		{h("a", addr), bo.opts.FreeAddr},
	}
}

// canonAddr returns addr without a port, an IP address in canonical
// form, and an IPv6 address as its /64: one subscriber commonly holds a
// whole /64, so counting its addresses apart would give it 2^64 fresh
// counters.
func canonAddr(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		addr = ap.Addr().String()
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return strings.ToLower(addr)
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// delay is how long a scope with c waits after its last failure.
func (bo *Backoff) delay(c counter, free int) time.Duration {
	n := c.Failures - free
	if n <= 0 {
		return 0
	}
	d := bo.opts.Base
	for i := 1; i < n; i++ {
		if d > bo.opts.Max/2 {
			return bo.opts.Max
		}
		d *= 2
	}
	return min(d, bo.opts.Max)
}

// wait is how long from now a scope with c still waits.
func (bo *Backoff) wait(c counter, free int, now time.Time) time.Duration {
	last := time.Unix(0, c.Last)
	if now.Sub(last) >= bo.opts.Forget {
		return 0
	}
	return max(0, last.Add(bo.delay(c, free)).Sub(now))
}

// read returns a scope's counter and revision; a missing or forgotten
// one is zero (with its revision, for a compare and set).
func (bo *Backoff) read(ctx context.Context, key string, now time.Time) (counter, uint64, bool, error) {
	e, err := bo.b.Get(ctx, key)
	if errors.Is(err, engine.ErrNotFound) {
		return counter{}, 0, false, nil
	}
	if err != nil {
		return counter{}, 0, false, err
	}
	var c counter
	if json.Unmarshal(e.Value, &c) != nil || c.Failures < 0 || now.Sub(time.Unix(0, c.Last)) >= bo.opts.Forget {
		c = counter{} // damaged or forgotten: start again
	}
	return c, e.Revision, true, nil
}

// Check returns how long a login of user from addr must wait before its
// password may be checked: zero if it may be checked now. addr is the
// client's address, with or without a port. An error means the counters
// could not be read; the caller should refuse the login then (fail
// closed), not let it through unslowed.
func (bo *Backoff) Check(ctx context.Context, user, addr string) (time.Duration, error) {
	now := bo.opts.Now()
	var wait time.Duration
	for _, s := range bo.scopes(user, addr) {
		c, _, _, err := bo.read(ctx, s.key, now)
		if err != nil {
			return 0, fmt.Errorf("login backoff: %w", err)
		}
		wait = max(wait, bo.wait(c, s.free, now))
	}
	return wait, nil
}

// Fail counts a failed login of user from addr in its three scopes and
// returns how long the next login of the two must wait.
func (bo *Backoff) Fail(ctx context.Context, user, addr string) (time.Duration, error) {
	now := bo.opts.Now()
	var wait time.Duration
	for _, s := range bo.scopes(user, addr) {
		c, err := bo.add(ctx, s.key, now)
		if err != nil {
			return 0, fmt.Errorf("login backoff: %w", err)
		}
		wait = max(wait, bo.wait(c, s.free, now))
	}
	return wait, nil
}

// add adds a failure at now to key's counter by compare and set, reading
// again when another node wrote first, and returns the new counter.
func (bo *Backoff) add(ctx context.Context, key string, now time.Time) (counter, error) {
	for range maxCASTries {
		c, rev, found, err := bo.read(ctx, key, now)
		if err != nil {
			return counter{}, err
		}
		c.Failures++
		c.Last = max(c.Last, now.UnixNano())
		v, _ := json.Marshal(c) // cannot fail: two integers
		if found {
			_, err = bo.b.Update(ctx, key, v, rev)
		} else {
			_, err = bo.b.Create(ctx, key, v)
		}
		if errors.Is(err, engine.ErrRevision) || errors.Is(err, engine.ErrExists) {
			continue // another write came first
		}
		return c, err
	}
	return counter{}, fmt.Errorf("counter %s changed %d times during one update", key, maxCASTries)
}

// Succeed clears the counters of the pair and of user after a successful
// login of user from addr. The address's counter stays: one right
// password from an address does not excuse its guesses at other names.
func (bo *Backoff) Succeed(ctx context.Context, user, addr string) error {
	s := bo.scopes(user, addr)
	for _, sc := range s[:2] {
		if err := bo.b.Delete(ctx, sc.key); err != nil {
			return fmt.Errorf("login backoff: %w", err)
		}
	}
	return nil
}
