package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's recommended argon2id parameters (the Password
// Storage Cheat Sheet's first option: 19 MiB, 2 passes, 1 lane), with a
// 16-byte salt and a 32-byte hash.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on the parameters a stored hash may ask for: a damaged or hostile
// record must not make a login allocate gigabytes or run for minutes.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 16
	maxThreads = 16
	maxSaltLen = 64
	maxKeyLen  = 64
	minSaltLen = 8
	minKeyLen  = 16
)

// ErrBadHash is wrapped by the error for a stored hash that is not a PHC
// string argon2id this package can check.
var ErrBadHash = errors.New("not an argon2id PHC hash")

// Hash hashes password with argon2id under p (the zero Params means
// DefaultParams) and a fresh random salt, and returns it in the PHC string
// format: $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH, salt and hash in
// unpadded standard base64.
func Hash(password string, p Params) (string, error) {
	if p == (Params{}) {
		p = DefaultParams
	}
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodePHC(p, salt, key), nil
}

// CheckHash reports whether password matches the PHC string hash,
// comparing in constant time. It returns an error wrapping ErrBadHash for
// a hash it cannot read or whose parameters are beyond its limits.
func CheckHash(hash, password string) (bool, error) {
	p, salt, key, err := decodePHC(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// HashParams returns the parameters hash was made with, so that a caller
// can tell a hash made under older parameters and rehash at the next login.
func HashParams(hash string) (Params, error) {
	p, _, _, err := decodePHC(hash)
	return p, err
}

func (p Params) check() error {
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("%w: memory %d KiB out of range", ErrBadHash, p.Memory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("%w: %d passes out of range", ErrBadHash, p.Time)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("%w: %d lanes out of range", ErrBadHash, p.Threads)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("%w: a %d-byte salt", ErrBadHash, p.SaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("%w: a %d-byte hash", ErrBadHash, p.KeyLen)
	}
	return nil
}

var b64 = base64.RawStdEncoding

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decodePHC(s string) (p Params, salt, key []byte, err error) {
	bad := func(what string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrBadHash, what)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("want $argon2id$v=19$m=..,t=..,p=..$salt$hash")
	}
	if f[1] != "argon2id" {
		return bad("algorithm " + strconv.Quote(f[1]))
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("version " + strconv.Quote(f[2]))
	}
	var seen [3]bool
	for kv := range strings.SplitSeq(f[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return bad("parameter " + strconv.Quote(kv))
		}
		i := strings.Index("mtp", k)
		if len(k) != 1 || i < 0 || seen[i] {
			return bad("parameter " + strconv.Quote(kv))
		}
		seen[i] = true
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return bad("parameter " + strconv.Quote(kv))
			}
			p.Threads = uint8(n)
		}
	}
	if seen != [3]bool{true, true, true} {
		return bad("want m, t and p")
	}
	if salt, err = b64.DecodeString(f[4]); err != nil {
		return bad("salt")
	}
	if key, err = b64.DecodeString(f[5]); err != nil {
		return bad("hash")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return Params{}, nil, nil, err
	}
	return p, salt, key, nil
}
