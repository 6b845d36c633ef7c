package users

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// BucketName is the engine bucket that holds the users.
const BucketName = "users"

// Defaults of Options.
const (
	DefaultMinPassword = 8
	DefaultMaxHashing  = 4
	// MaxPassword is the longest password accepted, in bytes: argon2id
	// takes any length, but a login must not make the server read and hash
	// megabytes.
	MaxPassword = 1024
	// MaxName is the longest user name, in bytes.
	MaxName = 64
)

var (
	// ErrBadLogin is returned by Verify for an unknown user, a disabled
	// one and a wrong password alike.
	ErrBadLogin = errors.New("wrong user name or password")
	// ErrNoUser is returned for a user that does not exist.
	ErrNoUser = errors.New("no such user")
	// ErrExists is returned by Add for a user that exists.
	ErrExists = errors.New("user exists")
	// ErrConflict is returned by Update when the user was changed (by
	// this node or another) since the revision given was read.
	ErrConflict = errors.New("user changed meanwhile")
)

// User is a local account.
type User struct {
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	Hash     string    `json:"hash"` // argon2id, PHC string format
	Created  time.Time `json:"created"`
	Disabled bool      `json:"disabled,omitempty"`
	// TOTP is the secret of the user's second factor (RFC 6238), sealed
	// under Options.SecretKey (in clear, base32, in a record written
	// before secrets were sealed); "" for none (EnrolTOTP, UseTOTP).
	TOTP string `json:"totp,omitempty"`
	// TOTPStep is the time step (Unix time / 30 s) of the last code
	// accepted: no code of that step or an earlier one is accepted again.
	TOTPStep int64 `json:"totp_step,omitempty"`
	// CredentialsChanged is when the password was last set or the second
	// factor enrolled or removed (not when a login rehashed the same
	// password): sessions started before it end (zero for never).
	CredentialsChanged time.Time `json:"credentials_changed,omitzero"`
	// Revision is the bucket's revision of the record read; Update
	// writes only over that revision.
	Revision uint64 `json:"-"`
}

// Bucket is the key-value bucket a Store keeps its users in: an
// *engine.Bucket, which every console node sharing the engine sees.
type Bucket interface {
	Get(ctx context.Context, key string) (engine.Entry, error)
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	Delete(ctx context.Context, key string) error
	Keys(ctx context.Context) ([]string, error)
}

// Options adjusts a Store. The zero value means the defaults.
type Options struct {
	// Params are the argon2id parameters of new hashes; the zero value
	// means DefaultParams. A hash made under other parameters is still
	// checked with its own, and rehashed under these at its next login.
	Params Params
	// MinPassword is the shortest password Add and SetPassword take, in
	// bytes; 0 means DefaultMinPassword.
	MinPassword int
	// MaxHashing bounds the argon2id computations running at once (each
	// takes Params.Memory); 0 means DefaultMaxHashing. Others wait for a
	// turn or their context.
	MaxHashing int
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// SecretKey seals the second-factor secrets the store writes, and
	// opens those it reads: KeySize bytes (LoadKey reads them from a
	// file), the same on every node of a console. Without it, enrolling
	// or checking a second factor fails with ErrNoKey.
	SecretKey []byte
}

// Store keeps users in a bucket. It is safe for concurrent use.
type Store struct {
	b     Bucket
	opts  Options
	slots chan struct{} // a token per running hash

	dummyOnce sync.Once
	dummy     string // a hash of nothing anyone types, for unknown users
	dummyErr  error

	seal    *sealer // of Options.SecretKey; nil with sealErr set if none or bad
	sealErr error

	checked func() // a test's hook, called once per hash checked
}

// Open returns a Store in the engine's users bucket, creating it if needed.
func Open(ctx context.Context, e *engine.Engine, opts *Options) (*Store, error) {
	b, err := e.Bucket(ctx, engine.BucketConfig{Name: BucketName, MaxValueSize: 4096})
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return New(b, opts), nil
}

// New returns a Store in b.
func New(b Bucket, opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Params == (Params{}) {
		o.Params = DefaultParams
	}
	if o.MinPassword <= 0 {
		o.MinPassword = DefaultMinPassword
	}
	if o.MaxHashing <= 0 {
		o.MaxHashing = DefaultMaxHashing
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Store{b: b, opts: o, slots: make(chan struct{}, o.MaxHashing)}
	switch {
	case o.SecretKey == nil:
		s.sealErr = ErrNoKey
	default:
		s.seal, s.sealErr = newSealer(o.SecretKey)
	}
	return s
}

// CheckName returns name in canonical form (lower case) or an error
// saying what is wrong with it. A name has 1 to MaxName letters, digits
// and . _ @ -, and starts with a letter or digit.
func CheckName(name string) (string, error) {
	name = strings.ToLower(name)
	if name == "" || len(name) > MaxName {
		return "", fmt.Errorf("user name %q: want 1 to %d characters", name, MaxName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._@-", rune(c))) {
			return "", fmt.Errorf("user name %q: want letters, digits and . _ @ -, starting with a letter or digit", name)
		}
	}
	return name, nil
}

// key is a user's key in the bucket: the name in unpadded base64url, whose
// alphabet is within the bucket's keys' (a name's dots and @ are not).
func key(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

func (s *Store) checkPassword(pw string) error {
	switch {
	case len(pw) < s.opts.MinPassword:
		return fmt.Errorf("password too short: want at least %d characters", s.opts.MinPassword)
	case len(pw) > MaxPassword:
		return fmt.Errorf("password too long: at most %d bytes", MaxPassword)
	}
	return nil
}

// hash and check run argon2id when a slot is free.
func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) release() { <-s.slots }

func (s *Store) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return Hash(pw, s.opts.Params)
}

func (s *Store) check(ctx context.Context, hash, pw string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer s.release()
	if s.checked != nil {
		s.checked()
	}
	return CheckHash(hash, pw)
}

// Add creates a user with role and password, or fails with ErrExists.
func (s *Store) Add(ctx context.Context, name string, role Role, password string) (User, error) {
	name, err := CheckName(name)
	if err != nil {
		return User{}, err
	}
	if !role.Valid() {
		return User{}, fmt.Errorf("invalid role %d", uint8(role))
	}
	if err := s.checkPassword(password); err != nil {
		return User{}, err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	u := User{Name: name, Role: role, Hash: h, Created: s.opts.Now().UTC()}
	rev, err := s.b.Create(ctx, key(name), encode(u))
	if errors.Is(err, engine.ErrExists) {
		return User{}, fmt.Errorf("%w: %s", ErrExists, name)
	}
	if err != nil {
		return User{}, fmt.Errorf("users: adding %s: %w", name, err)
	}
	u.Revision = rev
	return u, nil
}

func encode(u User) []byte {
	b, _ := json.Marshal(u) // cannot fail: a valid role, plain fields
	return b
}

// Get returns the user name, or ErrNoUser.
func (s *Store) Get(ctx context.Context, name string) (User, error) {
	name, err := CheckName(name)
	if err != nil {
		return User{}, fmt.Errorf("%w: %w", ErrNoUser, err)
	}
	e, err := s.b.Get(ctx, key(name))
	if errors.Is(err, engine.ErrNotFound) {
		return User{}, fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	if err != nil {
		return User{}, fmt.Errorf("users: reading %s: %w", name, err)
	}
	return decode(e)
}

func decode(e engine.Entry) (User, error) {
	var u User
	if err := json.Unmarshal(e.Value, &u); err != nil {
		return User{}, fmt.Errorf("users: record %s: %w", e.Key, err)
	}
	u.Revision = e.Revision
	return u, nil
}

// List returns every user, by name.
func (s *Store) List(ctx context.Context) ([]User, error) {
	keys, err := s.b.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("users: listing: %w", err)
	}
	var all []User
	for _, k := range keys {
		e, err := s.b.Get(ctx, k)
		if errors.Is(err, engine.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("users: listing: %w", err)
		}
		u, err := decode(e)
		if err != nil {
			return nil, err
		}
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// Update writes u over the record of u.Name if that record's revision is
// still u.Revision, and returns u with its new revision; otherwise it
// fails with ErrConflict (or ErrNoUser if the user is gone). The name and
// creation time are the record's: they cannot be changed.
func (s *Store) Update(ctx context.Context, u User) (User, error) {
	if !u.Role.Valid() {
		return User{}, fmt.Errorf("invalid role %d", uint8(u.Role))
	}
	if _, _, _, err := decodePHC(u.Hash); err != nil {
		return User{}, fmt.Errorf("users: %s: %w", u.Name, err)
	}
	rev, err := s.b.Update(ctx, key(u.Name), encode(u), u.Revision)
	if errors.Is(err, engine.ErrRevision) {
		if _, gerr := s.Get(ctx, u.Name); errors.Is(gerr, ErrNoUser) {
			return User{}, gerr
		}
		return User{}, fmt.Errorf("%w: %s", ErrConflict, u.Name)
	}
	if err != nil {
		return User{}, fmt.Errorf("users: updating %s: %w", u.Name, err)
	}
	u.Revision = rev
	return u, nil
}

// change applies fn to the current record of name and writes it back,
// reading again when another write came first.
func (s *Store) change(ctx context.Context, name string, fn func(*User) error) (User, error) {
	for {
		u, err := s.Get(ctx, name)
		if err != nil {
			return User{}, err
		}
		if err := fn(&u); err != nil {
			return User{}, err
		}
		u, err = s.Update(ctx, u)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return u, err
	}
}

// SetPassword gives name a new password (which ends their sessions:
// User.CredentialsChanged).
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := s.checkPassword(password); err != nil {
		return err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	_, err = s.change(ctx, name, func(u *User) error { u.Hash, u.CredentialsChanged = h, time.Now(); return nil })
	return err
}

// SetRole gives name a new role.
func (s *Store) SetRole(ctx context.Context, name string, role Role) error {
	if !role.Valid() {
		return fmt.Errorf("invalid role %d", uint8(role))
	}
	_, err := s.change(ctx, name, func(u *User) error { u.Role = role; return nil })
	return err
}

// SetDisabled disables or enables name. A disabled user cannot log in.
func (s *Store) SetDisabled(ctx context.Context, name string, disabled bool) error {
	_, err := s.change(ctx, name, func(u *User) error { u.Disabled = disabled; return nil })
	return err
}

// Remove deletes name, or fails with ErrNoUser.
func (s *Store) Remove(ctx context.Context, name string) error {
	u, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if err := s.b.Delete(ctx, key(u.Name)); err != nil {
		return fmt.Errorf("users: removing %s: %w", u.Name, err)
	}
	return nil
}

// Verify returns the user if name exists, is enabled and password is
// theirs. Otherwise it returns an error wrapping ErrBadLogin, the same
// for an unknown user, a disabled one and a wrong password, after the
// same work: an unknown name is checked against a dummy hash made with the
// store's parameters. Other errors (the engine unreachable, ctx done while
// waiting for a hashing slot) are returned as they are. A hash made under
// other parameters than the store's is replaced at a successful login.
func (s *Store) Verify(ctx context.Context, name, password string) (User, error) {
	if len(password) > MaxPassword {
		return User{}, ErrBadLogin
	}
	u, err := s.Get(ctx, name)
	if err != nil && !errors.Is(err, ErrNoUser) {
		return User{}, err
	}
	hash := u.Hash
	if err != nil {
		if hash, err = s.dummyHash(); err != nil {
			return User{}, err
		}
	}
	ok, cerr := s.check(ctx, hash, password)
	switch {
	case errors.Is(cerr, context.Canceled), errors.Is(cerr, context.DeadlineExceeded):
		return User{}, cerr
	case cerr != nil:
		return User{}, fmt.Errorf("%w (%s: %w)", ErrBadLogin, u.Name, cerr)
	case !ok || u.Name == "" || u.Disabled:
		return User{}, ErrBadLogin
	}
	if p, _ := HashParams(u.Hash); p != s.opts.Params {
		if h, err := s.hash(ctx, password); err == nil {
			u.Hash = h
			if nu, err := s.Update(ctx, u); err == nil {
				u = nu
			}
		}
	}
	return u, nil
}

func (s *Store) dummyHash() (string, error) {
	s.dummyOnce.Do(func() {
		var b [18]byte
		pw := base64.RawStdEncoding.EncodeToString(b[:])
		s.dummy, s.dummyErr = Hash(pw, s.opts.Params)
	})
	return s.dummy, s.dummyErr
}
