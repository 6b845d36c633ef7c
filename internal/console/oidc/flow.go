package oidc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// flow is what a login keeps between its two requests, sealed in the
// flow cookie.
type flow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Expires  time.Time `json:"e"`
}

// errFlow is wrapped by open's errors: the cookie is not one this key
// sealed, or its flow has expired.
var errFlow = errors.New("no login in progress in this browser")

// sealer seals and opens flows with AES-256-GCM under one key. It is safe
// for concurrent use.
type sealer struct{ aead cipher.AEAD }

// flowKeyInfo binds keys derived for the flow cookie to that use.
const flowKeyInfo = "wsdeck oidc flow cookie v1"

// newSealer returns a sealer whose key is derived from secret (at least 16
// bytes) with HKDF-SHA256.
func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("oidc: the flow key is %d bytes; at least 16 are needed", len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, flowKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("oidc: flow key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oidc: flow key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("oidc: flow key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns f encrypted and authenticated, in URL-safe base64.
func (s *sealer) seal(f flow) (string, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, plain, []byte(flowKeyInfo))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open returns the flow sealed in v, or an error wrapping errFlow if v was
// not sealed by this key, was altered, or has expired at now.
func (s *sealer) open(v string, now time.Time) (flow, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) < s.aead.NonceSize() {
		return flow{}, fmt.Errorf("%w (the flow cookie is malformed)", errFlow)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(flowKeyInfo))
	if err != nil {
		return flow{}, fmt.Errorf("%w (the flow cookie was not sealed by this console)", errFlow)
	}
	var f flow
	if err := json.Unmarshal(plain, &f); err != nil {
		return flow{}, fmt.Errorf("%w (the flow cookie is malformed)", errFlow)
	}
	if !now.Before(f.Expires) {
		return flow{}, fmt.Errorf("%w (the login took too long: start again)", errFlow)
	}
	return f, nil
}

// random returns 256 random bits in URL-safe base64.
func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
