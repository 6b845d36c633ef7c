package users

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTPIssuer names the console in authenticator apps.
const TOTPIssuer = "wsdeck"

// totpOpts are the codes' parameters: RFC 6238's defaults (30-second
// steps, 6 digits, HMAC-SHA1), which every authenticator app reads, and
// one step of skew either way for clocks that drift.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// EnrolTOTP gives name a new TOTP secret (a second factor at login,
// replacing any earlier one) and returns the otpauth:// URL that an
// authenticator app reads (as a QR code or typed in).
func (s *Store) EnrolTOTP(ctx context.Context, name string) (string, error) {
	name, err := CheckName(name)
	if err != nil {
		return "", err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: name, Period: totpOpts.Period,
		Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		return "", fmt.Errorf("users: a TOTP secret for %s: %w", name, err)
	}
	if _, err := s.change(ctx, name, func(u *User) error { u.TOTP = key.Secret(); return nil }); err != nil {
		return "", err
	}
	return key.URL(), nil
}

// RemoveTOTP takes name's second factor away.
func (s *Store) RemoveTOTP(ctx context.Context, name string) error {
	_, err := s.change(ctx, name, func(u *User) error { u.TOTP = ""; return nil })
	return err
}

// CheckTOTP reports whether code is u's current TOTP code (or the one
// before or after) at now. A user without a second factor has no code.
func CheckTOTP(u User, code string, now time.Time) bool {
	code = strings.TrimSpace(code)
	if u.TOTP == "" || len(code) != totpOpts.Digits.Length() {
		return false
	}
	ok, err := totp.ValidateCustom(code, u.TOTP, now, totpOpts)
	return err == nil && ok
}

// TOTPCode returns the code of secret at t, for tests and scripts.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}
