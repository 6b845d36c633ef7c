package users

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The TOTP secret in a user's record is sealed: encrypted and
// authenticated (AES-256-GCM, bound to the user's name) under a key that
// the console's nodes hold in a file, not in the engine. Whoever can read
// the engine's bucket (or its files, or a backup of them) gets password
// hashes and sealed secrets, and cannot make codes. A record written
// before secrets were sealed holds the secret in clear; it is read as it
// is and sealed at the user's next login with a code.

// KeySize is the size of the secret key, in bytes.
const KeySize = 32

// sealedPrefix starts a sealed secret; what follows is the nonce and the
// ciphertext, in unpadded URL base64. A secret in clear (base32) never
// contains a colon.
const sealedPrefix = "sealed:1:"

// ErrNoKey is returned when a second factor is enrolled or checked by a
// Store that has no Options.SecretKey.
var ErrNoKey = errors.New("users: no secret key to seal second-factor secrets with")

// ErrWrongKey says that a sealed secret does not open with the Store's
// key: it was sealed by a node with another one.
var ErrWrongKey = errors.New("users: a second-factor secret sealed with another key (give every node the same --secret-key-file)")

// sealer seals and opens secrets under a key.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("users: a secret key of %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead}, nil
}

// additional binds a sealed secret to its user: a secret copied into
// another user's record does not open there.
func additional(name string) []byte { return []byte("wsdeck totp " + name) }

func (s *sealer) seal(name, secret string) string {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, []byte(secret), additional(name))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out)
}

// open returns the secret that stored holds for name, and whether it was
// sealed (false: a record of before, in clear).
func (s *sealer) open(name, stored string) (secret string, sealed bool, err error) {
	rest, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		if strings.Contains(stored, ":") {
			return "", false, fmt.Errorf("users: %s's second-factor secret is sealed in a form this version does not know", name)
		}
		return stored, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", true, fmt.Errorf("users: %s's sealed second-factor secret is damaged", name)
	}
	p, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], additional(name))
	if err != nil {
		return "", true, ErrWrongKey
	}
	return string(p), true, nil
}

// LoadKey reads the secret key in path: KeySize bytes as hex digits, a
// newline allowed after them (`openssl rand -hex 32` makes one). If the
// file does not exist and create is set, it makes one with a new random
// key, readable by its owner only (and its directory, if missing), and
// reports created.
func LoadKey(path string, create bool) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key = make([]byte, KeySize)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("secret key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadKey(path, false) // made meanwhile by another process
		}
		if err != nil {
			return nil, false, fmt.Errorf("secret key: %w", err)
		}
		_, err = f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, false, fmt.Errorf("secret key: %w", err)
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret key: %w", err)
	}
	key, err = hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, false, fmt.Errorf("secret key %s: want %d bytes as %d hex digits (openssl rand -hex %d makes one)", path, KeySize, 2*KeySize, KeySize)
	}
	return key, false, nil
}
