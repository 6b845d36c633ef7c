package users

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
)

// TestTOTP: enrolment, codes across the clock's skew, each code accepted
// once (replays refused, on one node or several), and removal.
func TestTOTP(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Add(ctx, "alice", Admin, "alice-password"); err != nil {
		t.Fatal(err)
	}
	u, _ := s.Get(ctx, "alice")
	// check reports whether code would be accepted from u, without
	// using it.
	check := func(u User, code string, now time.Time) bool {
		t.Helper()
		secret, _, err := s.totpSecret(u)
		if err != nil {
			t.Fatal(err)
		}
		_, ok := totpStep(secret, u.TOTPStep, code, now)
		return ok
	}
	if check(u, "000000", time.Now()) {
		t.Fatal("a user without a second factor accepted a code")
	}
	url, err := s.EnrolTOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/wsdeck:alice?") {
		t.Errorf("enrol URL %q", url)
	}
	u, _ = s.Get(ctx, "alice")
	key, err := otp.NewKeyFromURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if secret, sealed, err := s.totpSecret(u); err != nil || !sealed || secret != key.Secret() {
		t.Fatalf("the stored secret opens to %q (sealed %v, %v), want the URL's", secret, sealed, err)
	}
	if strings.Contains(u.TOTP, key.Secret()) {
		t.Fatalf("the record holds the secret in clear: %q", u.TOTP)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := TOTPCode(key.Secret(), at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		code string
		want bool
	}{
		{"current", code(now), true},
		{"a step before (clock skew)", code(now.Add(-30 * time.Second)), true},
		{"a step after", code(now.Add(30 * time.Second)), true},
		{"two steps before", code(now.Add(-60 * time.Second)), false},
		{"an hour old", code(now.Add(-time.Hour)), false},
		{"empty", "", false},
		{"too long", code(now) + "0", false},
		{"letters", "abcdef", false},
	}
	for _, tc := range tests {
		if got := check(u, tc.code, now); got != tc.want {
			t.Errorf("%s: %q accepted %v, want %v", tc.name, tc.code, got, tc.want)
		}
	}
	// A code is accepted once: of 8 logins replaying it at once, one
	// gets in; and no code of an earlier step is accepted after it.
	var wg sync.WaitGroup
	var wins atomic.Int32
	for range 8 {
		wg.Go(func() {
			ok, err := s.UseTOTP(ctx, u, code(now), now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("a code was accepted %d times, want once", wins.Load())
	}
	u, _ = s.Get(ctx, "alice")
	if check(u, code(now.Add(-30*time.Second)), now) {
		t.Error("a code of the step before the one used is accepted")
	}
	if ok, err := s.UseTOTP(ctx, u, code(now.Add(30*time.Second)), now); err != nil || !ok {
		t.Errorf("the next step's code: %v, %v; want accepted", ok, err)
	}

	if err := s.RemoveTOTP(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	u, _ = s.Get(ctx, "alice")
	if u.TOTP != "" || check(u, code(now), now) {
		t.Error("a second factor taken away still accepts its codes")
	}
}

// TestTOTPSealed: a secret sealed by one node's store opens in another's
// with the same key; with another key, or none, checking a code fails
// with a clear error rather than accepting or silently refusing it; a
// sealed secret copied into another user's record does not open there;
// and a record of before, with the secret in clear, still logs in and is
// sealed by that login.
func TestTOTPSealed(t *testing.T) {
	t.Parallel()
	b := newStore(t).b
	s := New(b, &Options{Params: fast, SecretKey: testKey})
	ctx := t.Context()
	for _, name := range []string{"alice", "bob"} {
		if _, err := s.Add(ctx, name, Admin, name+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	url, err := s.EnrolTOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := otp.NewKeyFromURL(url)
	now := time.Now()
	code, _ := TOTPCode(key.Secret(), now)
	alice, _ := s.Get(ctx, "alice")

	other := New(b, &Options{Params: fast, SecretKey: bytes.Repeat([]byte{7}, KeySize)})
	if ok, err := other.UseTOTP(ctx, alice, code, now); ok || !errors.Is(err, ErrWrongKey) {
		t.Errorf("another key: %v, %v; want ErrWrongKey", ok, err)
	}
	none := New(b, &Options{Params: fast})
	if ok, err := none.UseTOTP(ctx, alice, code, now); ok || !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v, %v; want ErrNoKey", ok, err)
	}
	if _, err := none.EnrolTOTP(ctx, "bob"); !errors.Is(err, ErrNoKey) {
		t.Errorf("enrolling without a key: %v; want ErrNoKey", err)
	}
	bob, _ := s.Get(ctx, "bob")
	bob.TOTP = alice.TOTP
	if ok, err := s.UseTOTP(ctx, bob, code, now); ok || err == nil {
		t.Errorf("alice's sealed secret in bob's record: %v, %v; want an error", ok, err)
	}
	same := New(b, &Options{Params: fast, SecretKey: bytes.Clone(testKey)})
	if ok, err := same.UseTOTP(ctx, alice, code, now); !ok || err != nil {
		t.Errorf("the same key on another node: %v, %v; want accepted", ok, err)
	}

	// A record of before: the secret in clear.
	bob.TOTP = key.Secret()
	if _, err := s.Update(ctx, bob); err != nil {
		t.Fatal(err)
	}
	bob, _ = s.Get(ctx, "bob")
	if ok, err := s.UseTOTP(ctx, bob, code, now); !ok || err != nil {
		t.Fatalf("a secret in clear: %v, %v; want accepted", ok, err)
	}
	bob, _ = s.Get(ctx, "bob")
	if !strings.HasPrefix(bob.TOTP, sealedPrefix) {
		t.Errorf("after a login the secret is still in clear: %q", bob.TOTP)
	}
	next, _ := TOTPCode(key.Secret(), now.Add(30*time.Second))
	if ok, err := s.UseTOTP(ctx, bob, next, now); !ok || err != nil {
		t.Errorf("the sealed secret's next code: %v, %v; want accepted", ok, err)
	}
}

// TestLoadKey: a key file is made once, readable by its owner alone, and
// read back the same; a file that is not a key is refused with a clear
// error.
func TestLoadKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dir", "secret.key")
	if _, _, err := LoadKey(path, false); err == nil {
		t.Fatal("a missing key file without create: no error")
	}
	key, created, err := LoadKey(path, true)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("LoadKey = %x, %v, %v; want a new %d-byte key", key, created, err, KeySize)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := LoadKey(path, true)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Errorf("reading it again: %x, created %v, %v; want the same key", again, created, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	if _, _, err := LoadKey(bad, true); err == nil || !strings.Contains(err.Error(), "hex digits") {
		t.Errorf("a file that is not a key: %v", err)
	}
}
